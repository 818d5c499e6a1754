/**
 * Who gets in, against the real server process (scripts/server.ts) on
 * 127.0.0.1: hostile requests to the control endpoint, pages from other
 * origins on the WebSocket, wrong tokens, silent sockets and connection floods.
 * Small sizes; no timing assertions: every check is a status, a close code or
 * a counter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { control, controlRequest, killAll, serverState, startServerProcess } from '../integration/server-process.js';

const sockets = new Set<WebSocket>();

afterEach(async () => {
  for (const ws of sockets) ws.terminate();
  sockets.clear();
  await killAll();
});

interface Outcome {
  code: number;
  reason: string;
  frames: string[];
}

/** Opens a socket, runs `onOpen`, resolves with how it closed and what it received. */
function attempt(url: string, onOpen: (ws: WebSocket) => void = () => {}, options?: ClientOptions): Promise<Outcome> {
  const ws = new WebSocket(url, options);
  sockets.add(ws);
  const frames: string[] = [];
  return new Promise((resolve) => {
    ws.on('open', () => onOpen(ws));
    ws.on('message', (data) => frames.push(data.toString()));
    ws.on('error', () => {});
    ws.on('close', (code, reason) => {
      sockets.delete(ws);
      resolve({ code, reason: reason.toString(), frames });
    });
  });
}

const hello = (token?: string) => (ws: WebSocket) => ws.send(JSON.stringify({ type: 'hello', v: 1, ...(token === undefined ? {} : { token }) }));

describe('control endpoint under attack', () => {
  it('refuses a missing or wrong token, a foreign Origin or Host, and a non-JSON body, and nothing changes', async () => {
    const server = await startServerProcess(['--no-app', '--token', 'sync-secret']);
    const json = { 'content-type': 'application/json' };
    const body = '{"set":{"pwned":true}}';
    const hostile: Array<[string, Parameters<typeof controlRequest>[2], number]> = [
      ['no token', { token: null, headers: json, body }, 401],
      ['the sync token instead', { token: 'sync-secret', headers: json, body }, 401],
      // One character changed (a generated token ends in 'x' one time in 64).
      ['a wrong token', { token: `${server.controlToken.slice(0, -1)}${server.controlToken.endsWith('x') ? 'y' : 'x'}`, headers: json, body }, 401],
      ['a foreign Origin', { headers: { ...json, origin: 'http://evil.example' }, body }, 403],
      ['a rebound Host', { headers: { ...json, host: `attacker.example:${server.port}`, origin: `http://attacker.example:${server.port}` }, body }, 421],
      ['a text/plain body', { headers: { 'content-type': 'text/plain' }, body }, 415],
      ['a form body', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'set=1' }, 415],
    ];
    for (const [name, init, status] of hostile) {
      const answer = await controlRequest(server, 'change', init);
      expect(answer.status, name).toBe(status);
    }
    for (const action of ['drop', 'restart', 'stall?ms=100', 'state']) {
      expect((await controlRequest(server, action, { token: null })).status, action).toBe(401);
      expect((await controlRequest(server, action, { headers: { host: 'attacker.example' } })).status, action).toBe(421);
    }
    const state = await serverState(server);
    expect(state.data).toEqual({});
    expect(state.seq).toBe(0);
    expect(state.counters).toMatchObject({ controlRefusals: hostile.length + 8, faults: { total: 0 } });
  });

  it('prints a generated control token at start, and never echoes one given with --control-token', async () => {
    const generated = await startServerProcess(['--no-app']);
    expect(generated.output.join('')).toContain(`control token: ${generated.controlToken}`);
    expect((await control(generated, 'drop')).status).toBe(200);

    const given = await startServerProcess(['--no-app', '--control-token', 'my-control-secret']);
    expect(given.controlToken).toBe('my-control-secret');
    expect(given.output.join('')).not.toContain('my-control-secret');
    expect((await control(given, 'drop')).status).toBe(200);
  });
});

describe('WebSocket under attack', () => {
  it('closes pages from other origins with 4403 before any snapshot; their ops change nothing', async () => {
    const server = await startServerProcess(['--no-app']);
    const origins = ['http://evil.example', 'null', `http://127.0.0.1:${server.port === 65535 ? 1 : server.port + 1}`];
    const outcomes = await Promise.all(
      origins.map((origin) =>
        attempt(server.url, (ws) => {
          hello()(ws);
          ws.send(JSON.stringify({ type: 'op', id: `evil-${origin}`, set: { pwned: origin } }));
        }, { origin }),
      ),
    );
    for (const outcome of outcomes) expect(outcome).toMatchObject({ code: 4403, frames: [] });
    const rebound = await attempt(server.url, hello(), { origin: `http://attacker.example:${server.port}`, headers: { host: `attacker.example:${server.port}` } });
    expect(rebound.code).toBe(4403);
    const state = await serverState(server);
    expect(state.data).toEqual({});
    expect(state.counters).toMatchObject({ originFailures: origins.length + 1, connections: 0 });
  });

  it('slows wrong tokens from one address: later attempts are held, a parallel burst is told to come back', async () => {
    // The second attempt follows the first failure at once (loopback), well inside its 1 s wait, however loaded the
    // machine: it is held. test/server/ asserts the default delays on a TestClock.
    const server = await startServerProcess(['--no-app', '--token', 's3cret', '--auth-delay', '1000', '--auth-max-delay', '2000']);
    const codes: number[] = [];
    for (let i = 0; i < 2; i++) codes.push((await attempt(server.url, hello(`guess-${i}`))).code);
    expect(codes).toEqual([4401, 4401]);
    let state = await serverState(server);
    expect(state.counters).toMatchObject({ authFailures: 2, authHeld: 1 });

    // Queued behind each other, a burst soon waits over the largest delay: those are closed with 1013, unjudged.
    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt(server.url, hello(`burst-${i}`))));
    const burstCodes = burst.map((outcome) => outcome.code);
    expect(burstCodes.filter((code) => code === 1013).length).toBeGreaterThan(0);
    expect(burstCodes.every((code) => code === 1013 || code === 4401)).toBe(true);
    state = await serverState(server);
    expect(state.counters.authThrottled).toBe(burstCodes.filter((code) => code === 1013).length);
    expect(state.counters.authFailures).toBe(2 + burstCodes.filter((code) => code === 4401).length);
  });

  it('closes silent sockets at the hello deadline with 1013 and a reason naming the hello', async () => {
    // On a --token server, silent sockets from one address are also presumed failing authentication:
    // past the first 10 they queue, and those that would wait over --auth-max-delay are closed at once.
    const server = await startServerProcess(['--no-app', '--token', 's3cret', '--hello-timeout', '300', '--auth-delay', '20', '--auth-max-delay', '100']);
    const silent = await Promise.all(Array.from({ length: 60 }, () => attempt(server.url)));
    const reasons = new Map<string, number>();
    for (const outcome of silent) {
      const key = `${outcome.code} ${outcome.reason.replace(/retry in \d+ s/, 'retry in N s')}`;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
    const deadline = reasons.get("1013 expected the statesocket sync protocol's hello within 300 ms") ?? 0;
    const throttled = reasons.get('1013 too many failed authentications from 127.0.0.1; retry in N s') ?? 0;
    expect(deadline).toBeGreaterThanOrEqual(10);
    expect(deadline + throttled).toBe(60);
    const state = await serverState(server);
    expect(state.counters).toMatchObject({ helloTimeouts: deadline, authThrottled: throttled, open: 0 });
  });

  it('caps connections per address and in total with 1013; the rest are served', async () => {
    /** Resolves with 'snapshot' for a served socket, or its close code for a refused one. */
    const served = (url: string) =>
      new Promise<string | number>((resolve) => {
        void attempt(url, (ws) => {
          hello()(ws);
          ws.once('message', (data) => resolve(JSON.parse(data.toString()).type as string));
        }).then((outcome) => resolve(outcome.code));
      });

    const perAddress = await startServerProcess(['--no-app', '--max-connections-per-address', '5']);
    const first = await Promise.all(Array.from({ length: 8 }, () => served(perAddress.url)));
    expect(first.filter((result) => result === 'snapshot')).toHaveLength(5);
    expect(first.filter((result) => result === 1013)).toHaveLength(3);
    expect((await serverState(perAddress)).counters).toMatchObject({ connectionsRefused: 3, open: 5 });

    const total = await startServerProcess(['--no-app', '--max-connections', '2']);
    const second = await Promise.all(Array.from({ length: 3 }, () => served(total.url)));
    expect(second.filter((result) => result === 'snapshot')).toHaveLength(2);
    expect(second.filter((result) => result === 1013)).toHaveLength(1);
  });
});
