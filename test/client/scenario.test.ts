/**
 * Scenarios, run against a real connection (the real chart, sync protocol and
 * store) wired to the real sync server logic through an in-memory transport,
 * on a simulated clock. The driver moves the clock from deadline to deadline
 * whenever the scenario waits, so nothing sleeps.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadScenarioFile } from '../../scripts/client.js';
import { createConnectionFactory } from '../../src/connection.js';
import type { ScenarioResult, ScenarioStep, RunScenarioOptions } from '../../scripts/client/scenario.js';
import { httpControl, parseScenario, runScenario } from '../../scripts/client/scenario.js';
import { timeoutScheduler } from '../../src/scheduler.js';
import type { Session, SyncServer } from '../../src/server/sync-server.js';
import { createSyncServer } from '../../src/server/sync-server.js';
import { createStore, type StoreData } from '../../src/store.js';
import { rawProtocol } from '../../src/protocol.js';
import { createSyncProtocol } from '../../src/sync/client-protocol.js';
import { TestClock, seededRandom } from '../../src/testing/index.js';
import type { Frame, WebSocketLike } from '../../src/types.js';

// ── an in-memory server: createSyncServer behind a WebSocket-shaped object ──

/** A socket whose other end is the sync server; every delivery is a microtask, as on a real event loop. */
class MemorySocket implements WebSocketLike {
  readyState = 0;
  bufferedAmount = 0;
  binaryType = 'blob';
  /* eslint-disable @typescript-eslint/no-explicit-any */
  onopen: ((event: any) => void) | null = null;
  onmessage: ((event: any) => void) | null = null;
  onerror: ((event: any) => void) | null = null;
  onclose: ((event: any) => void) | null = null;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  private session: Session | null = null;

  constructor(private readonly server: MemoryServer) {
    server.sockets.add(this);
    queueMicrotask(() => this.accept());
  }

  private accept(): void {
    if (this.readyState !== 0) return;
    this.readyState = 1;
    this.session = this.server.core.connect({
      send: (frame) => queueMicrotask(() => this.readyState === 1 && this.onmessage?.({ data: frame })),
      close: (code, reason) => this.finish(code, reason, true),
      bufferedAmount: 0,
    });
    this.onopen?.({ type: 'open' });
  }

  send(data: Frame): void {
    if (this.readyState !== 1) return;
    const session = this.session;
    queueMicrotask(() => session?.receive(data as string));
  }

  close(code?: number, reason?: string): void {
    this.finish(code ?? 1005, reason ?? '', true);
  }

  terminate(): void {
    this.finish(1006, '', false);
  }

  /** The server side: the connection ends with this close. */
  finish(code: number, reason: string, wasClean: boolean): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.server.sockets.delete(this);
    this.session?.closed();
    queueMicrotask(() => this.onclose?.({ code, reason, wasClean }));
  }
}

interface MemoryServer {
  core: SyncServer;
  sockets: Set<MemorySocket>;
  /** The control routes the scenarios use: drop, close?code=N, restart. */
  control: (action: string) => Promise<void>;
  actions: string[];
}

function memoryServer(): MemoryServer {
  const server: MemoryServer = {
    core: createSyncServer({ random: seededRandom(7) }),
    sockets: new Set(),
    actions: [],
    async control(action) {
      server.actions.push(action);
      const url = new URL(`/control/${action}`, 'http://control.test');
      const name = url.pathname.slice('/control/'.length);
      const open = [...server.sockets];
      if (name === 'drop') for (const socket of open) socket.finish(1006, '', false);
      else if (name === 'close') {
        for (const socket of open) socket.finish(Number(url.searchParams.get('code') ?? 1000), url.searchParams.get('reason') ?? '', true);
      } else if (name === 'restart') {
        server.core.restart();
        for (const socket of open) socket.finish(1006, '', false);
      } else throw new Error(`POST /control/${action} answered 404 Not Found`);
    },
  };
  return server;
}

// ── a connection on a simulated clock, and a driver ─────────────────────────

const stops: Array<() => void> = [];
afterEach(() => {
  for (let stop = stops.pop(); stop !== undefined; stop = stops.pop()) stop();
});

function setup(options: { protocol?: 'statesocket' | 'raw' } = {}) {
  const server = memoryServer();
  const clock = new TestClock();
  const createConnection = createConnectionFactory(
    () =>
      class extends MemorySocket {
        constructor() {
          super(server);
        }
      },
  );
  const connection = createConnection({
    url: 'ws://memory.test/',
    model: createStore(),
    protocol: options.protocol === 'raw' ? rawProtocol : createSyncProtocol(),
    view: { render: () => {} },
    clock,
    now: () => clock.now(),
    random: seededRandom(1),
    schedule: timeoutScheduler(16, clock),
  });
  stops.push(() => connection.stop());
  /** `sleep` on the simulated clock, cancelled on abort. */
  const sleep: NonNullable<RunScenarioOptions['sleep']> = (ms, signal) =>
    new Promise((resolve) => {
      const id = clock.setTimeout(() => resolve(), ms);
      signal.addEventListener('abort', () => clock.clearTimeout(id), { once: true });
    });

  /** Runs the scenario, moving the clock to the next deadline whenever everything else has settled. */
  async function run(steps: readonly ScenarioStep[], extra: RunScenarioOptions = {}): Promise<ScenarioResult> {
    let result: ScenarioResult | undefined;
    const running = runScenario(connection, steps, {
      control: server.control,
      now: () => clock.now(),
      sleep,
      ...(options.protocol ? { protocol: options.protocol } : {}),
      ...extra,
    }).then((value) => (result = value));
    const limitMs = 120_000;
    for (;;) {
      // A macrotask turn: every pending microtask (transport, runner) has run after it.
      await new Promise((resolve) => setImmediate(resolve));
      if (result !== undefined) return running;
      const next = clock.nextDeadline();
      if (next === null) throw new Error('the scenario is waiting on nothing: no timer is pending');
      if (next > limitMs) throw new Error(`the scenario is still running after ${limitMs} simulated ms`);
      clock.advance(next - clock.now());
    }
  }
  return { server, clock, connection, run };
}

// ── tests ───────────────────────────────────────────────────────────────────

describe('running a scenario', () => {
  it('passes when every step holds', async () => {
    const { run, server } = setup();
    const result = await run([
      { waitFor: { state: 'open' }, timeout: 1000 },
      { send: { set: { greeting: 'hello', n: 1 } } },
      { waitFor: { model: { greeting: 'hello' } }, timeout: 1000 },
      { wait: 100 },
      { expect: { state: 'open', model: { greeting: 'hello', n: 1 }, counters: { rejected: 0, received: { min: 2 } } } },
    ]);
    expect(result).toEqual({ ok: true });
    expect(server.core.counters.opsApplied).toBe(1);
    expect(server.core.data()).toEqual({ greeting: 'hello', n: 1 });
  });

  it('names the failing expect step with what was expected and what was found', async () => {
    const { run } = setup();
    const result = await run([
      { waitFor: { state: 'open' } },
      { send: { set: { a: 1 } } },
      { waitFor: { model: { a: 1 } } },
      { expect: { state: 'open', model: { a: 2, missing: true }, counters: { rejected: { min: 1 } } } },
      { wait: 1 },
    ]);
    expect(result).toEqual({
      ok: false,
      step: 3,
      message:
        'steps[3] (expect): expected model.a = 2, found 1; expected model.missing = true, found no key missing; ' +
        'expected counters.rejected >= 1, found 0',
    });
  });

  it('names the waitFor step that timed out and the state it found', async () => {
    const { run, clock } = setup();
    const result = await run([{ waitFor: { state: 'open' } }, { waitFor: { state: 'closed' }, timeout: 2500 }]);
    expect(result).toEqual({ ok: false, step: 1, message: 'steps[1] (waitFor state closed): timed out after 2500 ms; found state open' });
    expect(clock.now()).toBeGreaterThanOrEqual(2500);
  });

  it('names the model keys a timed-out waitFor was missing', async () => {
    const { run } = setup();
    const result = await run([{ waitFor: { state: 'open', model: { k: 'v' } }, timeout: 500 }]);
    expect(result).toMatchObject({ ok: false, step: 0 });
    expect(result.ok || result.message).toBe(
      'steps[0] (waitFor state open and model {"k":"v"}): timed out after 500 ms; expected model.k = "v", found no key k',
    );
  });

  it('sees a state that was entered and left since the previous step began', async () => {
    const { run, server } = setup();
    const result = await run([
      { waitFor: { state: 'open' } },
      { send: { set: { kept: true } } },
      { waitFor: { model: { kept: true } } },
      { control: 'drop' },
      { waitFor: { state: 'errored' }, timeout: 1000 },
      { waitFor: { state: 'open' }, timeout: 5000 },
      { expect: { state: 'open', model: { kept: true }, counters: { reconnects: 1 } } },
    ]);
    expect(result).toEqual({ ok: true });
    expect(server.actions).toEqual(['drop']);
  });

  it('counts a state passed through while the previous step was still running', async () => {
    const { run, server, clock, connection } = setup();
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    // A control that returns only after the client has gone errored and come back.
    const slowControl = async (action: string) => {
      await server.control(action);
      await settle();
      clock.advance(1000);
      await settle();
    };
    const result = await run(
      [{ waitFor: { state: 'open' } }, { control: 'drop' }, { waitFor: { state: 'errored' }, timeout: 10 }, { expect: { state: 'open' } }],
      { control: slowControl },
    );
    expect(result).toEqual({ ok: true });
    expect(connection.history.map((entry) => entry.state)).toEqual(['idle', 'connecting', 'open', 'errored', 'connecting', 'open']);
  });

  it('does not count a state left before the previous step began', async () => {
    const { run } = setup();
    const result = await run([{ waitFor: { state: 'open' } }, { wait: 10 }, { waitFor: { state: 'connecting' }, timeout: 10 }]);
    expect(result).toMatchObject({ ok: false, step: 2 });
  });

  it('disconnects, connects and retries on request', async () => {
    const { run, connection } = setup();
    const result = await run([
      { waitFor: { state: 'open' } },
      { disconnect: { code: 4000, reason: 'scenario' } },
      { waitFor: { state: 'closed' }, timeout: 1000 },
      { connect: {} },
      { waitFor: { state: 'open' }, timeout: 1000 },
      { retry: {} },
      { expect: { state: 'open' } },
    ]);
    expect(result).toEqual({ ok: true });
    expect(connection.history.map((entry) => entry.state)).toEqual(['idle', 'connecting', 'open', 'closed', 'connecting', 'open']);
  });

  it('fails a send step that throws, naming the error', async () => {
    const { run, connection } = setup();
    connection.stop();
    const result = await run([{ send: { set: { a: 1 } } }]);
    expect(result.ok).toBe(false);
    expect(result.ok || result.message).toMatch(/^steps\[0\] \(send \{"set":\{"a":1\}\}\): threw StatesocketError: this connection was stopped/);
  });

  it('fails a control step when no control is configured', async () => {
    const { run } = setup();
    const result = await run([{ control: 'drop' }], { control: undefined as never });
    expect(result).toMatchObject({ ok: false, step: 0 });
    expect(result.ok || result.message).toContain('steps[0] (control drop): no server control is configured');
  });

  it('stops at the current step when its signal aborts', async () => {
    const { run, clock } = setup();
    const abort = new AbortController();
    clock.setTimeout(() => abort.abort('--duration 1 s elapsed'), 1000);
    const result = await run([{ waitFor: { state: 'open' } }, { wait: 60_000 }], { signal: abort.signal });
    expect(result).toEqual({ ok: false, step: 1, message: 'steps[1] (wait 60000 ms): stopped before it finished: --duration 1 s elapsed' });
  });

  it('sends the value as-is with the raw protocol', async () => {
    const { run, server } = setup({ protocol: 'raw' });
    const result = await run([{ waitFor: { state: 'open' } }, { send: { type: 'hello', v: 1 } }, { waitFor: { model: {} } }]);
    expect(result).toEqual({ ok: true });
    // The raw hello went through untouched: the server greeted it with a snapshot.
    expect(server.core.counters.snapshotsSent).toBe(1);
  });
});

describe('shipped scenarios', () => {
  it.each(['happy-path', 'outage-and-recovery', 'offline-op-applied-once'])('%s holds against the sync server', async (name) => {
    const loaded = await loadScenarioFile(`scripts/scenarios/${name}.json`, 'statesocket');
    if (!loaded.ok) throw new Error(loaded.message);
    const { run, server } = setup();
    expect(await run(loaded.steps)).toEqual({ ok: true });
    expect(server.core.counters.opsApplied).toBe(loaded.steps.filter((step) => 'send' in step).length);
    expect(server.core.counters.opsDuplicate).toBeLessThanOrEqual(1);
  });
});

describe('validating a scenario', () => {
  it.each<[unknown, string]>([
    [{}, 'a scenario is an array of steps (or {"steps": [...]}); received undefined'],
    ['steps', 'a scenario is an array of steps (or {"steps": [...]}); received "steps"'],
    [[], 'a scenario needs at least one step'],
    [{ steps: [{ wait: 1 }], title: 'x' }, 'a scenario object takes only "steps" and "description"; received title'],
    [[{ wait: 1 }, 5], 'steps[1] must be an object such as {"wait": 100}; received 5'],
    [[{ sleep: 1 }], 'steps[0] has no action: expected one of wait, waitFor, send, expect, disconnect, connect, retry, control; received keys sleep'],
    [[{ wait: 1, connect: {} }], 'steps[0] has more than one action (wait, connect): put each in its own step'],
    [[{ wait: -1 }], 'steps[0].wait: expected a number >= 0, received -1'],
    [[{ wait: 'soon' }], 'steps[0].wait: expected a number >= 0, received "soon"'],
    [[{ wait: 1 }, { waitFor: { state: 'opened' } }], 'steps[1].waitFor.state: expected one of "idle"|"connecting"|"open"|"errored"|"closed", received "opened"'],
    [[{ waitFor: {} }], 'steps[0].waitFor: needs `state` or `model`'],
    [[{ waitFor: { state: 'open' }, timeout: 'long' }], 'steps[0].timeout: expected a number >= 0, received "long"'],
    [[{ waitFor: { state: 'open' }, within: 5 }], 'steps[0]: unknown key "within"'],
    [[{ send: { put: { a: 1 } } }], 'steps[0].send: unknown key "put" (with the statesocket protocol, send takes {set?, delete?}'],
    [[{ send: { delete: 'a' } }], 'steps[0].send.delete: expected an array of strings, received "a"'],
    [[{ expect: { counters: { recieved: 1 } } }], 'steps[0].expect.counters: unknown key "recieved"'],
    [[{ expect: { counters: { received: { min: -1 } } } }], 'steps[0].expect.counters.received'],
    [[{ disconnect: { code: 1006 } }], 'steps[0].disconnect.code: must be 1000 or 3000–4999'],
    [[{ connect: { now: true } }], 'steps[0].connect: unknown key "now"'],
    [[{ control: 'DROP everything' }], 'steps[0].control: must be an action name with an optional query'],
  ])('%j is refused: %s', (value, message) => {
    const parsed = parseScenario(value);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok || parsed.message).toContain(message);
  });

  it('reports every invalid step, not only the first', () => {
    const parsed = parseScenario([{ wait: -1 }, { wait: 1 }, { retry: 1 }]);
    expect(parsed.ok || parsed.message.split('\n')).toEqual([
      'steps[0].wait: expected a number >= 0, received -1',
      'steps[2].retry: expected an object, received 1',
    ]);
  });

  it('accepts every kind of step, and {description, steps}', () => {
    const steps = [
      { wait: 10 },
      { waitFor: { state: 'open' }, timeout: 100 },
      { waitFor: { model: { a: [1, { b: null }] } } },
      { send: { set: { a: 1 }, delete: ['b'] } },
      { expect: { state: 'open', model: { a: 1 }, counters: { received: 3, rejected: { max: 0 } } } },
      { disconnect: { code: 4000, reason: 'bye' } },
      { connect: {} },
      { retry: {} },
      { control: 'close?code=1012&reason=restart' },
      { control: 'stall?ms=500' },
    ];
    expect(parseScenario(steps)).toEqual({ ok: true, steps });
    expect(parseScenario({ description: 'all of them', steps })).toEqual({ ok: true, steps });
  });

  it('lets the raw protocol send any JSON', () => {
    expect(parseScenario([{ send: { type: 'subscribe', channel: 'prices' } }], { protocol: 'raw' }).ok).toBe(true);
    expect(parseScenario([{ send: 'ping' }], { protocol: 'raw' }).ok).toBe(true);
  });
});

describe('scenario files', () => {
  let dir = '';
  afterEach(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
    dir = '';
  });

  async function file(name: string, text: string): Promise<string> {
    dir ||= await mkdtemp(join(tmpdir(), 'statesocket-scenario-'));
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  it('rejects an invalid step with the file name and the step index', async () => {
    const path = await file('bad.json', JSON.stringify([{ waitFor: { state: 'open' } }, { expect: { state: 'opne' } }]));
    const loaded = await loadScenarioFile(path, 'statesocket');
    expect(loaded).toEqual({
      ok: false,
      message: `${path}: invalid scenario:\nsteps[1].expect.state: expected one of "idle"|"connecting"|"open"|"errored"|"closed", received "opne"`,
    });
  });

  it('rejects a file that is not JSON', async () => {
    const path = await file('broken.json', '[{"wait": 1},');
    const loaded = await loadScenarioFile(path, 'statesocket');
    expect(loaded.ok || loaded.message).toMatch(new RegExp(`^${path.replaceAll('.', '\\.')}: not valid JSON: `));
  });

  it('rejects a file it cannot read or a kind it does not know', async () => {
    expect(await loadScenarioFile('/nonexistent/scenario.json', 'statesocket')).toMatchObject({ ok: false });
    const path = await file('steps.yaml', '- wait: 1');
    expect(await loadScenarioFile(path, 'statesocket')).toEqual({
      ok: false,
      message: `${path}: a scenario file must end in .json, .ts, .mts, .js or .mjs; received .yaml`,
    });
  });

  it('loads a module that exports the steps as default', async () => {
    const path = await file('steps.mjs', 'export default [{ "waitFor": { "state": "open" } }, { "wait": 5 }];');
    expect(await loadScenarioFile(path, 'statesocket')).toEqual({ ok: true, steps: [{ waitFor: { state: 'open' } }, { wait: 5 }] });
    const none = await file('none.mjs', 'export const steps = [];');
    expect(await loadScenarioFile(none, 'statesocket')).toMatchObject({ ok: false, message: expect.stringContaining('export the steps as default') });
  });
});

describe('server control over HTTP', () => {
  it('POSTs the action to /control/ on the host and port of the WebSocket URL', async () => {
    const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
    const fetch = (async (url: URL | string, init?: RequestInit) => {
      calls.push({ url: String(url), init });
      return new Response('{"ok":true}', { status: 200 });
    }) as typeof globalThis.fetch;
    await httpControl('ws://127.0.0.1:4321/sync?x=1', { fetch, token: 't' })('stall?ms=500');
    await httpControl('wss://example.com/live', { fetch })('drop');
    expect(calls.map((call) => call.url)).toEqual(['http://127.0.0.1:4321/control/stall?ms=500', 'https://example.com/control/drop']);
    expect(calls[0]?.init).toMatchObject({ method: 'POST', headers: { authorization: 'Bearer t' } });
  });

  it('fails with the status and the body when the server refuses', async () => {
    const fetch = (async () => new Response('{"ok":false,"error":"unknown control route"}', { status: 404, statusText: 'Not Found' })) as typeof globalThis.fetch;
    await expect(httpControl('ws://127.0.0.1:1/', { fetch })('explode')).rejects.toThrow(
      'POST /control/explode answered 404 Not Found: {"ok":false,"error":"unknown control route"}',
    );
  });
});
