/**
 * The conformance fixtures (docs/protocol-fixtures/) replayed against the real server: every
 * scenario against `createSyncServer` with in-memory peers on a `TestClock`, and again through
 * `startSyncServer` and real `ws` sockets on 127.0.0.1 (the server's clock a `TestClock` the
 * harness advances; server changes and the restart fault through the control routes), and those
 * that do not move the clock against the `statesocket-server` program as a child process.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { aclHooks, parseAcl } from '../../src/server/acl.js';
import { startSyncServer } from '../../src/server/start.js';
import { createSyncServer, type SyncServerOptions } from '../../src/server/sync-server.js';
import { utf8Length } from '../../src/frames.js';
import type { Changes } from '../../src/sync/messages.js';
import { TestClock } from '../../src/testing/clock.js';
import { kill, serverState, startServerProcess } from '../integration/server-process.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';
import { actionOf, matchPattern, readScenarios, substitute, type Scenario, type Step } from '../support/protocol-fixtures.js';

type Event = { kind: 'frame'; text: string } | { kind: 'close'; code: number; reason: string };

/** What a scenario drives: one server, clients by name. */
interface Harness {
  connect(client: string, query: Record<string, string>): Promise<void>;
  send(client: string, text: string): void;
  next(client: string): Promise<Event>;
  drop(client: string): Promise<void>;
  close(client: string, code: number): Promise<void>;
  change(channel: string, changes: { set?: Record<string, unknown>; delete?: string[] }): Promise<void>;
  restart(): Promise<void>;
  advance(ms: number): void;
}

/** The fixture's ACL with each token's `expiresInMs` turned into `expiresAt` on the clock. */
function aclOf(scenario: Scenario, clock: TestClock) {
  if (scenario.acl === undefined) return undefined;
  return parseAcl({
    channels: scenario.acl.channels,
    tokens: scenario.acl.tokens.map(({ expiresInMs, ...token }) => (expiresInMs === undefined ? token : { ...token, expiresAt: clock.now() + expiresInMs })),
  });
}

/** `createSyncServer` with in-memory peers: every frame is delivered at once, in order. */
function memoryHarness(scenario: Scenario): Harness {
  const clock = new TestClock();
  const acl = aclOf(scenario, clock);
  const options: SyncServerOptions = { ...(scenario.server as SyncServerOptions), timers: clock, ...(acl === undefined ? {} : aclHooks(acl)) };
  delete (options as Record<string, unknown>).helloTimeoutMs; // the transport's
  const server = createSyncServer(options);
  onCleanup(() => server.close());
  const clients = new Map<string, { events: Event[]; session: ReturnType<typeof server.connect>; open: boolean }>();
  const closeOf = (name: string, code: number, reason: string) => {
    const client = clients.get(name);
    if (client === undefined || !client.open) return;
    client.open = false;
    client.events.push({ kind: 'close', code, reason });
    client.session?.closed(); // undefined while connect() itself closes it (a wrong URL token)
  };
  return {
    async connect(name, query) {
      const events: Event[] = [];
      const entry = { events, open: true, session: undefined as unknown as ReturnType<typeof server.connect> };
      clients.set(name, entry);
      entry.session = server.connect(
        {
          send: (text) => {
            if (entry.open) events.push({ kind: 'frame', text });
          },
          close: (code, reason) => closeOf(name, code, reason),
          bufferedAmount: 0,
        },
        { urlToken: query.token ?? null },
      );
    },
    send: (name, text) => clients.get(name)?.session.receive(text),
    async next(name) {
      const event = clients.get(name)?.events.shift();
      if (event === undefined) throw new Error(`client ${name} received nothing`);
      return event;
    },
    async drop(name) {
      closeOf(name, 1006, '');
      clients.get(name)?.events.pop();
    },
    async close(name, code) {
      closeOf(name, code, '');
      clients.get(name)?.events.pop();
    },
    async change(channel, changes) {
      server.change(changes as Changes, channel);
    },
    async restart() {
      server.restart();
      for (const name of clients.keys()) closeOf(name, 1006, '');
    },
    advance: (ms) => clock.advance(ms),
  };
}

/** A server reached over the network: WebSocket clients, the control routes, its live session count. */
interface NetworkServer {
  url: string;
  port: number;
  controlToken: string;
  sessions(): Promise<number>;
  advance(ms: number): void;
}

/** Real WebSocket clients of `server`; server changes and the restart fault through the control routes. */
function networkHarness(server: NetworkServer): Harness {
  const control = async (path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${server.port}/control/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.controlToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`POST /control/${path}: ${response.status} ${await response.text()}`);
  };
  /** Waits until the server has seen a connection end (its timers, such as presence grace, start then). */
  const sessionsBelow = async (count: number) => {
    for (let i = 0; i < 300 && (await server.sessions()) >= count; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  const clients = new Map<string, { ws: WebSocket; events: Event[]; waiter: (() => void) | undefined }>();
  const end = async (name: string, how: (ws: WebSocket) => void) => {
    const entry = clients.get(name);
    clients.delete(name);
    const before = await server.sessions();
    if (entry !== undefined) how(entry.ws);
    await sessionsBelow(before);
  };
  return {
    async connect(name, query) {
      const search = new URLSearchParams(query).toString();
      const ws = new WebSocket(`${server.url}${search === '' ? '' : `?${search}`}`);
      const entry = { ws, events: [] as Event[], waiter: undefined as (() => void) | undefined };
      clients.set(name, entry);
      onCleanup(() => ws.terminate());
      const wake = () => {
        const waiter = entry.waiter;
        entry.waiter = undefined;
        waiter?.();
      };
      ws.on('message', (data: Buffer) => {
        entry.events.push({ kind: 'frame', text: data.toString('utf8') });
        wake();
      });
      ws.on('close', (code: number, reason: Buffer) => {
        entry.events.push({ kind: 'close', code, reason: reason.toString('utf8') });
        wake();
      });
      ws.on('error', () => {});
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        }),
        `client ${name} to connect`,
      );
    },
    send: (name, text) => clients.get(name)?.ws.send(text),
    async next(name) {
      const entry = clients.get(name);
      if (entry === undefined) throw new Error(`no client ${name}`);
      if (entry.events.length === 0) {
        await withTimeout(new Promise<void>((resolve) => (entry.waiter = resolve)), `a frame for client ${name}`, 3_000);
      }
      return entry.events.shift() as Event;
    },
    drop: (name) => end(name, (ws) => ws.terminate()),
    close: (name, code) => end(name, (ws) => ws.close(code)),
    change: (channel, changes) => control(`change?channel=${encodeURIComponent(channel)}`, changes),
    restart: () => control('restart'),
    advance: (ms) => server.advance(ms),
  };
}

/** `startSyncServer` in this process, its clock a `TestClock` the harness advances. */
async function startedHarness(scenario: Scenario): Promise<Harness> {
  const clock = new TestClock();
  const acl = aclOf(scenario, clock);
  // The failed-authentication delay is the transport's (not the protocol's), and it runs on this clock: off here.
  const authThrottle = { baseDelayMs: 0 };
  const server = await startSyncServer({ port: 0, host: '127.0.0.1', clock, control: true, authThrottle, ...(scenario.server as object), ...(acl === undefined ? {} : { acl }) });
  onCleanup(() => server.close());
  return networkHarness({
    url: server.url,
    port: server.port,
    controlToken: server.controlToken as string,
    sessions: async () => server.core.sessionCount,
    advance: (ms) => clock.advance(ms),
  });
}

/** The options a scenario may set, as the program's flags. */
const FLAGS: Record<string, string> = {
  logSize: '--log-size',
  maxOpBytes: '--max-op-bytes',
  maxDataBytes: '--max-data-bytes',
  maxPayloadBytes: '--max-payload',
  token: '--token',
  presenceGraceMs: '--presence-grace',
  refreshBeforeMs: '--refresh-before',
  maxClientsPerChannel: '--max-clients-per-channel',
  markRetentionMs: '--mark-retention',
  maxRefusalsPerClient: '--max-refusals-per-client',
  maxChannelsPerConnection: '--max-channels-per-connection',
  maxSubscribesPerMinute: '--max-subscribes-per-minute',
  maxChannelsInMemory: '--max-channels-in-memory',
  channelIdleMs: '--channel-idle',
  helloTimeoutMs: '--hello-timeout',
};

/** The `statesocket-server` program as a child process (with `--acl FILE` for a scenario's ACL), on the real clock. */
async function processHarness(scenario: Scenario): Promise<Harness> {
  const args = ['--no-app', '--auth-delay', '0'];
  for (const [option, value] of Object.entries(scenario.server ?? {})) args.push(FLAGS[option] as string, String(value));
  if (scenario.acl !== undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'statesocket-acl-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'acl.json');
    writeFileSync(file, JSON.stringify({ channels: scenario.acl.channels, tokens: scenario.acl.tokens.map(({ expiresInMs: _, ...token }) => token) }, null, 2));
    args.push('--acl', file);
  }
  const server = await startServerProcess(args);
  onCleanup(() => kill(server));
  return networkHarness({
    url: server.url,
    port: server.port,
    controlToken: server.controlToken,
    sessions: async () => (await serverState(server)).counters.sessions as number,
    advance: () => {
      throw new Error('a scenario that advances the clock is not replayed against a process');
    },
  });
}

/** Replays `scenario` on `harness`; throws naming the step that failed. */
async function replay(scenario: Scenario, harness: Harness): Promise<void> {
  const bindings = new Map<string, unknown>();
  const frameLimit = new Map<string, number>();
  const valueOf = (name: string) => {
    if (!bindings.has(name)) throw new Error(`$${name} is sent before it was bound`);
    return bindings.get(name);
  };
  const expectFrame = async (client: string, where: string): Promise<{ frame: unknown; text: string }> => {
    const event = await harness.next(client);
    if (event.kind === 'close') throw new Error(`${where}: expected a frame, received close ${event.code} ${event.reason}`);
    return { frame: JSON.parse(event.text), text: event.text };
  };
  for (const [index, step] of scenario.steps.entries()) {
    const where = `${scenario.name} step ${index} (${JSON.stringify(step).slice(0, 160)})`;
    const s = step as Step & Record<string, unknown>;
    const client = s.client as string;
    switch (actionOf(step)) {
      case 'connect':
        await harness.connect(client, (s.connect as { query?: Record<string, string> }).query ?? {});
        break;
      case 'send': {
        const frame = substitute(s.send, valueOf) as Record<string, unknown>;
        if (frame.type === 'hello') frameLimit.set(client, typeof frame.maxMessageBytes === 'number' ? frame.maxMessageBytes : 1_048_576);
        harness.send(client, JSON.stringify(frame));
        break;
      }
      case 'sendText':
        harness.send(client, s.sendText as string);
        break;
      case 'expect': {
        const { frame } = await expectFrame(client, where);
        const problem = matchPattern(s.expect, frame, bindings);
        if (problem !== null) throw new Error(`${where}: ${problem}; received ${JSON.stringify(frame).slice(0, 300)}`);
        break;
      }
      case 'expectChunked': {
        const limit = frameLimit.get(client) ?? 1_048_576;
        const pieces: string[] = [];
        let first: Record<string, unknown> | undefined;
        for (;;) {
          const { frame, text } = await expectFrame(client, where);
          const chunk = frame as Record<string, unknown>;
          if (chunk.type !== 'chunk') throw new Error(`${where}: expected a chunk, received ${text.slice(0, 200)}`);
          if (utf8Length(text) > limit) throw new Error(`${where}: a chunk of ${utf8Length(text)} bytes, over the client's ${limit}`);
          first ??= chunk;
          if (chunk.id !== first.id || chunk.count !== first.count || chunk.bytes !== first.bytes || chunk.channel !== first.channel || chunk.i !== pieces.length) {
            throw new Error(`${where}: piece ${pieces.length} out of order: ${text.slice(0, 200)}`);
          }
          pieces.push(chunk.data as string);
          if (pieces.length === chunk.count) break;
        }
        const joined = pieces.join('');
        if (utf8Length(joined) !== first.bytes) throw new Error(`${where}: joined ${utf8Length(joined)} bytes, announced ${String(first.bytes)}`);
        const whole = JSON.parse(joined) as Record<string, unknown>;
        if (whole.channel !== first.channel) throw new Error(`${where}: chunk channel ${String(first.channel)} but the frame's is ${String(whole.channel)}`);
        const problem = matchPattern(s.expectChunked, whole, bindings);
        if (problem !== null) throw new Error(`${where}: ${problem}`);
        break;
      }
      case 'expectNothing': {
        harness.send(client, '{"type":"ping"}');
        const { text } = await expectFrame(client, where);
        if (JSON.parse(text).type !== 'pong') throw new Error(`${where}: expected nothing, received ${text.slice(0, 300)}`);
        break;
      }
      case 'expectClose': {
        const event = await harness.next(client);
        const expected = s.expectClose as { code: number; reason?: unknown };
        if (event.kind !== 'close') throw new Error(`${where}: expected close ${expected.code}, received ${event.text.slice(0, 300)}`);
        if (event.code !== expected.code) throw new Error(`${where}: expected close ${expected.code}, received ${event.code} (${event.reason})`);
        if (expected.reason !== undefined) {
          const problem = matchPattern(expected.reason, event.reason, bindings);
          if (problem !== null) throw new Error(`${where}: the reason: ${problem}`);
        }
        break;
      }
      case 'drop':
        await harness.drop(client);
        break;
      case 'close':
        await harness.close(client, s.close as number);
        break;
      case 'server':
        if (s.server === 'restart') await harness.restart();
        else {
          const changes: { set?: Record<string, unknown>; delete?: string[] } = {};
          if (s.set !== undefined) changes.set = s.set as Record<string, unknown>;
          if (s.delete !== undefined) changes.delete = s.delete as string[];
          await harness.change(s.channel as string, changes);
        }
        break;
      case 'advanceMs':
        harness.advance(s.advanceMs as number);
        break;
    }
  }
  for (const group of scenario.distinct ?? []) {
    const values = group.map((name) => JSON.stringify(bindings.get(name)));
    expect(new Set(values).size, `${scenario.name}: ${group.join(', ')} must differ`).toBe(group.length);
  }
}

const scenarios = readScenarios();

describe('conformance fixtures against createSyncServer (in memory)', () => {
  it.each(scenarios.map(({ file, scenario }) => [file, scenario] as const))('%s', async (_file, scenario) => {
    await replay(scenario, memoryHarness(scenario));
  });
});

describe('conformance fixtures against startSyncServer over ws', () => {
  it.each(scenarios.map(({ file, scenario }) => [file, scenario] as const))('%s', async (_file, scenario) => {
    await replay(scenario, await startedHarness(scenario));
  });
});

/** On the real clock, a process replays the scenarios that do not move the clock, and whose tokens do not expire. */
const untimed = scenarios.filter(({ scenario }) => !scenario.steps.some((step) => 'advanceMs' in step) && !(scenario.acl?.tokens ?? []).some((t) => t.expiresInMs !== undefined));

describe('conformance fixtures against the statesocket-server process', () => {
  it.each(untimed.map(({ file, scenario }) => [file, scenario] as const))('%s', async (_file, scenario) => {
    await replay(scenario, await processHarness(scenario));
  });
});
