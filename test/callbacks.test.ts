/**
 * Callbacks you supply that throw: none escapes the connection, each becomes a
 * coded status (issue 11, item 8).
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../src/errors.js';
import type { Protocol } from '../src/protocol.js';
import { rawProtocol } from '../src/protocol.js';
import { createStore } from '../src/store.js';
import { createConnectionFactory } from '../src/connection.js';
import { createTestConnection } from '../src/testing/index.js';
import { createFakeSockets } from '../src/testing/fake-websocket.js';
import { BrokenClock } from './support/broken-clock.js';
import type { ConnectionStatus } from '../src/types.js';

/** Fails the test when anything reaches the process as an uncaught exception or unhandled rejection. */
const escaped: unknown[] = [];
const onEscape = (error: unknown) => escaped.push(error);
beforeEach(() => {
  escaped.length = 0;
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});
afterEach(async () => {
  // errors XState reports asynchronously (setTimeout, microtasks) would surface by now
  await new Promise((resolve) => setImmediate(resolve));
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
  expect(escaped).toEqual([]);
});

const boom = (what: string) => () => {
  throw new Error(`${what} broke`);
};

describe('a view that throws', () => {
  it('is counted as ERR_RENDER_FAILED, kept in the status, and the next change renders again', () => {
    let throws = true;
    const rendered: unknown[] = [];
    const view = {
      render(data: unknown) {
        if (throws) throw new RangeError('Maximum call stack size exceeded');
        rendered.push(data);
      },
    };
    const t = createTestConnection({ view });
    t.open();
    t.advance(16);
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastCallbackError: { code: 'ERR_RENDER_FAILED', message: 'view.render or model.getData threw: Maximum call stack size exceeded' },
      counters: { callbackErrors: 1, renders: 0 },
    });
    // a failed render does not schedule another one by itself: no retry loop every frame
    t.advance(160);
    expect(t.connection.getStatus().counters.callbackErrors).toBe(1);
    throws = false;
    t.socket.receive({ type: 'patch', set: { a: 1 } });
    t.advance(16);
    expect(rendered).toEqual([{ a: 1 }]);
    expect(t.connection.getStatus().counters).toMatchObject({ renders: 1, callbackErrors: 1 });
    t.connection.stop();
  });

  it('treats a model.getData that throws the same way', () => {
    const store = createStore();
    const model = { update: (message: unknown) => store.update(message), getData: boom('getData') };
    const t = createTestConnection({ model, view: { render() {} } });
    t.open();
    t.advance(16);
    expect(t.connection.getStatus().lastCallbackError).toEqual({ code: 'ERR_RENDER_FAILED', message: 'view.render or model.getData threw: getData broke' });
    expect(t.connection.getStatus().state).toBe('open');
    t.connection.stop();
  });

  it('treats a render scheduler that throws the same way', () => {
    const t = createTestConnection({ view: { render() {} }, schedule: boom('schedule') });
    t.open();
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastCallbackError: { code: 'ERR_RENDER_FAILED', message: 'the render scheduler threw: schedule broke' },
    });
    t.connection.stop();
  });
});

describe('a greeting that throws', () => {
  it('fails the attempt with ERR_GREETING_FAILED, backs off, and keeps the outbox queued', () => {
    let throws = true;
    const t = createTestConnection({
      greeting: () => {
        if (throws) throw new Error('no token yet');
        return { type: 'auth' };
      },
      random: () => 0.5,
    });
    t.connection.send({ queued: 1 });
    const first = t.open();
    expect(t.connection.getStatus()).toMatchObject({
      state: 'errored',
      lastError: { code: 'ERR_GREETING_FAILED', message: 'the greeting threw: no token yet' },
      nextDelayMs: 250,
      outboxSize: 1,
    });
    expect(first.sent).toEqual([]);
    expect(first.readyState).toBe(3);
    throws = false;
    t.advance(250);
    const second = t.open();
    expect(second.sentMessages()).toEqual([{ type: 'auth' }, { queued: 1 }]);
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', outboxSize: 0 });
    t.connection.stop();
  });

  it("fails the attempt when the protocol's greeting throws", () => {
    const protocol: Protocol = { ...rawProtocol, greeting: boom('protocol greeting') };
    const t = createTestConnection({ protocol });
    t.open();
    expect(t.connection.getStatus()).toMatchObject({
      state: 'errored',
      lastError: { code: 'ERR_GREETING_FAILED', message: 'the greeting threw: protocol greeting broke' },
    });
    t.connection.stop();
  });

  it("fails the attempt when the protocol's resync throws", () => {
    const protocol: Protocol = {
      ...rawProtocol,
      decode: (message) => ((message as { gap?: boolean }).gap ? { type: 'resync.needed', reason: 'gap' } : { type: 'message.received', message }),
      resync: boom('resync'),
    };
    const t = createTestConnection({ protocol });
    t.open();
    t.socket.receive({ gap: true });
    expect(t.connection.getStatus()).toMatchObject({ state: 'errored', lastError: { code: 'ERR_GREETING_FAILED' } });
    t.connection.stop();
  });
});

describe('a close policy that throws', () => {
  it.each([
    [1006, 'errored'],
    [4401, 'closed'],
  ])('falls back to the default policy for %i (%s) and says so', (code, state) => {
    const t = createTestConnection({ reconnect: { shouldReconnect: boom('policy') } });
    t.open();
    t.socket.serverClose(code, 'bye');
    expect(t.connection.getStatus()).toMatchObject({
      state,
      lastClose: { code, reason: 'bye' },
      lastCallbackError: { code: 'ERR_POLICY_FAILED', message: 'reconnect.shouldReconnect threw: policy broke; the default close policy decided' },
      counters: { callbackErrors: 1 },
    });
    t.connection.stop();
  });
});

describe('a random source that throws', () => {
  it('does not stop the reconnect: Math.random picks the wait, and the status says so', () => {
    const t = createTestConnection({ random: boom('random'), reconnect: { initialDelayMs: 100, maxDelayMs: 100 } });
    t.open();
    t.socket.drop();
    const status = t.connection.getStatus();
    expect(status).toMatchObject({
      state: 'errored',
      lastCallbackError: { code: 'ERR_POLICY_FAILED', message: 'random threw: random broke; Math.random chose this wait' },
    });
    expect(status.nextDelayMs).toBeGreaterThanOrEqual(0);
    expect(status.nextDelayMs).toBeLessThanOrEqual(100);
    t.advance(100);
    expect(t.connection.getStatus().state).toBe('connecting');
    t.connection.stop();
  });
});

describe('a status listener that throws', () => {
  it('does not keep the other listeners from the status, and is recorded once per change', () => {
    const t = createTestConnection();
    const seen: string[] = [];
    t.connection.subscribe(boom('listener'));
    t.connection.subscribe((status) => seen.push(status.state));
    t.open();
    expect(seen).toContain('open');
    const status = t.connection.getStatus();
    expect(status.lastCallbackError).toEqual({ code: 'ERR_LISTENER_FAILED', message: 'a status listener threw: listener broke' });
    const before = status.counters.callbackErrors;
    t.socket.receive({ type: 'patch', set: { a: 1 } });
    // one status change, one more failure recorded (the status that records it is not reported again)
    expect(t.connection.getStatus().counters.callbackErrors).toBe(before + 1);
    t.connection.stop();
  });
});

describe('a protocol that throws', () => {
  it('rejects the frame when decode throws', () => {
    const t = createTestConnection({ protocol: { ...rawProtocol, decode: boom('decode') } });
    t.open();
    t.socket.receive({ a: 1 });
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', lastRejected: { code: 'ERR_UNKNOWN_MESSAGE', message: 'decode broke' } });
    t.connection.stop();
  });

  it('rejects the message when applied throws, after the model took it', () => {
    const t = createTestConnection({ protocol: { ...rawProtocol, applied: boom('applied') } });
    t.open();
    t.socket.receive({ type: 'patch', set: { a: 1 } });
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastRejected: { code: 'ERR_UNKNOWN_MESSAGE', message: 'protocol.applied threw: applied broke' },
    });
    expect(t.connection.model.getData()).toEqual({ a: 1 });
    t.connection.stop();
  });
});

describe('a callback that throws something unprintable', () => {
  it('is still reported, by its code', () => {
    const unprintable = Object.create(null) as object; // String() of it throws
    const t = createTestConnection({
      model: { update: () => { throw unprintable; }, getData: () => ({}) },
      view: { render: () => { throw unprintable; } },
    });
    t.open();
    t.socket.receive({ a: 1 });
    t.advance(16);
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastRejected: { code: 'ERR_MODEL_REJECTED', message: 'a thrown object that cannot be shown' },
      lastCallbackError: { code: 'ERR_RENDER_FAILED', message: 'view.render or model.getData threw: a thrown object that cannot be shown' },
    });
    t.connection.stop();
  });
});

/** Lets every settled promise's handlers run (the rejections below are reported from them). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const rejecting = (what: string) => () => Promise.reject(new Error(`${what} rejected`));

describe('callbacks that return a rejected promise', () => {
  it('reports a view.render that rejects as ERR_RENDER_FAILED (a render is not awaited)', async () => {
    const t = createTestConnection({ view: { render: rejecting('render') } });
    t.open();
    t.advance(16);
    await settle();
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastCallbackError: { code: 'ERR_RENDER_FAILED', message: 'view.render rejected: render rejected' },
      counters: { callbackErrors: 1 },
    });
    t.connection.stop();
  });

  it('reports a model.getData that rejects as ERR_RENDER_FAILED, even when the view ignores its data', async () => {
    const store = createStore();
    const model = { update: (message: unknown) => store.update(message), getData: rejecting('getData') };
    const t = createTestConnection({ model, view: { render() {} } });
    t.open();
    t.advance(16);
    await settle();
    expect(t.connection.getStatus().lastCallbackError).toEqual({ code: 'ERR_RENDER_FAILED', message: 'model.getData rejected: getData rejected' });
    t.connection.stop();
  });

  it('reports a model.update that rejects as ERR_MODEL_REJECTED; the message was already applied (update is not awaited)', async () => {
    const t = createTestConnection({ model: { update: rejecting('update'), getData: () => ({}) } });
    t.open();
    t.socket.receive({ a: 1 });
    await settle();
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastRejected: null,
      lastCallbackError: {
        code: 'ERR_MODEL_REJECTED',
        message: 'model.update rejected: update rejected; the message was already applied (update is not awaited)',
      },
      counters: { received: 1, rejected: 0, callbackErrors: 1 },
    });
    t.connection.stop();
  });

  it('reports a status listener that rejects as ERR_LISTENER_FAILED, once per change and without a loop', async () => {
    const t = createTestConnection();
    const seen: string[] = [];
    t.connection.subscribe(rejecting('listener'));
    t.connection.subscribe((status) => seen.push(status.state));
    t.open();
    await settle();
    expect(seen).toContain('open');
    expect(t.connection.getStatus().lastCallbackError).toEqual({ code: 'ERR_LISTENER_FAILED', message: 'a status listener rejected: listener rejected' });
    const before = t.connection.getStatus().counters.callbackErrors;
    t.socket.receive({ type: 'patch', set: { a: 1 } });
    await settle();
    await settle();
    // the status that records a rejection is not reported again, so a listener that always rejects settles
    expect(t.connection.getStatus().counters.callbackErrors).toBe(before + 1);
    t.connection.stop();
  });

  it.each([
    ['a promise of true', () => Promise.resolve(true), 4401, 'closed', 'a promise'],
    ['a rejected promise', rejecting('policy'), 1006, 'errored', 'a promise'],
    ['a string', () => 'yes', 4401, 'closed', 'a string'],
    ['undefined', () => undefined, 1006, 'errored', 'undefined'],
  ])('lets the default close policy decide when shouldReconnect returns %s', async (_, policy, code, state, described) => {
    const t = createTestConnection({ reconnect: { shouldReconnect: policy as never } });
    t.open();
    t.socket.serverClose(code, 'bye');
    await settle();
    expect(t.connection.getStatus()).toMatchObject({
      state,
      lastCallbackError: {
        code: 'ERR_POLICY_FAILED',
        message: `reconnect.shouldReconnect returned ${described}, not a boolean (it must answer synchronously); the default close policy decided`,
      },
      counters: { callbackErrors: 1 },
    });
    t.connection.stop();
  });

  it('fails the attempt with ERR_GREETING_FAILED when the greeting returns a promise (a greeting must be synchronous)', async () => {
    const t = createTestConnection({ greeting: (async () => ({ type: 'auth' })) as never, random: () => 0.5 });
    t.connection.send({ queued: 1 });
    const first = t.open();
    await settle();
    expect(t.connection.getStatus()).toMatchObject({
      state: 'errored',
      lastError: {
        code: 'ERR_GREETING_FAILED',
        message: 'the greeting returned a promise; a greeting must be synchronous (fetch what it needs beforehand)',
      },
      outboxSize: 1,
    });
    expect(first.sent).toEqual([]);
    t.connection.stop();
  });

  it("fails the attempt when the protocol's greeting rejects, and reports a rejecting resync", async () => {
    const t = createTestConnection({ protocol: { ...rawProtocol, greeting: rejecting('protocol greeting') as never } });
    t.open();
    await settle();
    expect(t.connection.getStatus().lastError).toMatchObject({ code: 'ERR_GREETING_FAILED', message: expect.stringContaining("protocol's greeting") });
    t.connection.stop();

    const resyncing: Protocol = {
      ...rawProtocol,
      decode: (message) => ((message as { gap?: boolean }).gap ? { type: 'resync.needed', reason: 'gap' } : { type: 'message.received', message }),
      resync: rejecting('resync') as never,
    };
    const u = createTestConnection({ protocol: resyncing });
    u.open();
    u.socket.receive({ gap: true });
    await settle();
    expect(u.connection.getStatus().lastCallbackError).toEqual({ code: 'ERR_GREETING_FAILED', message: 'protocol.resync rejected: resync rejected (it is not awaited)' });
    u.connection.stop();
  });

  it('rejects a frame whose parse or decode returns a promise', async () => {
    const t = createTestConnection({ parse: rejecting('parse') });
    t.open();
    t.socket.receive({ a: 1 });
    await settle();
    expect(t.connection.getStatus()).toMatchObject({
      lastRejected: { code: 'ERR_MALFORMED_FRAME', message: 'parse returned a promise; it must be synchronous' },
      counters: { rejected: 1 },
    });
    t.connection.stop();

    const u = createTestConnection({ protocol: { ...rawProtocol, decode: rejecting('decode') as never } });
    u.open();
    u.socket.receive({ a: 1 });
    await settle();
    expect(u.connection.getStatus().lastRejected).toEqual({ code: 'ERR_UNKNOWN_MESSAGE', message: 'protocol.decode returned a promise; it must be synchronous' });
    u.connection.stop();
  });

  it('reports a protocol.applied that rejects as ERR_UNKNOWN_MESSAGE after the model took the message', async () => {
    const t = createTestConnection({ protocol: { ...rawProtocol, applied: rejecting('applied') as never } });
    t.open();
    t.socket.receive({ type: 'patch', set: { a: 1 } });
    await settle();
    expect(t.connection.getStatus().lastCallbackError).toEqual({ code: 'ERR_UNKNOWN_MESSAGE', message: 'protocol.applied rejected: applied rejected (it is not awaited)' });
    expect(t.connection.model.getData()).toEqual({ a: 1 });
    t.connection.stop();
  });

  it('reports a render scheduler that rejects, and stop() still works when it returned no cancel function', async () => {
    const t = createTestConnection({ view: { render() {} }, schedule: rejecting('schedule') as never });
    t.open();
    await settle();
    expect(t.connection.getStatus().lastCallbackError).toEqual({ code: 'ERR_RENDER_FAILED', message: 'the render scheduler rejected: schedule rejected' });
    expect(() => t.connection.stop()).not.toThrow();
  });
});

describe('a now option that throws or returns a non-number', () => {
  it.each([
    ['throws', () => { throw new Error('no clock'); }, 'now threw: no clock; Date.now was used'],
    ['returns NaN', () => Number.NaN, 'now returned NaN, not a finite number; Date.now was used'],
    ['returns a promise', () => Promise.reject(new Error('async clock')), 'now returned a promise, not a finite number; Date.now was used'],
  ])('falls back to Date.now when it %s, reports ERR_POLICY_FAILED, and every event still reaches the machine', async (_, broken, message) => {
    let armed = false;
    let time = 0;
    const t = createTestConnection({ now: () => (armed ? (broken as () => number)() : time++) });
    const socket = t.open();
    armed = true;
    // each of these called `now` and threw into the caller; the close never reached the machine
    expect(() => socket.receive({ type: 'patch', set: { a: 1 } })).not.toThrow();
    expect(t.connection.model.getData()).toEqual({ a: 1 });
    expect(() => socket.serverClose(1011, 'restart')).not.toThrow();
    await settle();
    expect(t.connection.getStatus()).toMatchObject({
      state: 'errored',
      lastClose: { code: 1011, reason: 'restart' },
      lastCallbackError: { code: 'ERR_POLICY_FAILED', message },
    });
    expect(t.connection.history.at(-1)).toMatchObject({ state: 'errored' });
    t.connection.stop();
  });
});

describe('a clock option that throws', () => {
  it("runs the machine's timer on the host's setTimeout instead and reports ERR_POLICY_FAILED", () => {
    const clock = new BrokenClock();
    const sockets = createFakeSockets();
    const connection = createConnectionFactory(() => sockets.WebSocket)({ url: 'ws://statesocket.test/', clock, now: () => clock.now() });
    expect(connection.getStatus().state).toBe('connecting');
    sockets.latest.open();
    clock.armed = true;
    // the drop schedules the reconnect wait: that setTimeout throws
    expect(() => sockets.latest.drop()).not.toThrow();
    expect(connection.getStatus()).toMatchObject({
      state: 'errored',
      lastCallbackError: { code: 'ERR_POLICY_FAILED', message: "clock.setTimeout threw: clock refused; the host's setTimeout was used" },
    });
    // retry() cancels the wait: a timer the host runs is cleared by the host, whatever the clock does
    clock.armed = false;
    connection.retry();
    expect(connection.getStatus().state).toBe('connecting');
    clock.armed = true;
    expect(() => connection.stop()).not.toThrow();
    expect(connection.getStatus().lastCallbackError?.code).toBe('ERR_POLICY_FAILED');
  });
});

describe('callbacks that throw or reject at random', () => {
  type Callback = 'update' | 'getData' | 'render' | 'greeting' | 'shouldReconnect' | 'listener' | 'decode' | 'parse' | 'url' | 'schedule' | 'now';
  /** How a callback fails: a synchronous throw, or a returned promise that rejects. */
  type Failure = 'throw' | 'reject';
  /** The code each callback's throw is reported with. */
  const CODE: Record<Callback, ErrorCode> = {
    update: 'ERR_MODEL_REJECTED',
    decode: 'ERR_UNKNOWN_MESSAGE',
    parse: 'ERR_MALFORMED_FRAME',
    getData: 'ERR_RENDER_FAILED',
    render: 'ERR_RENDER_FAILED',
    schedule: 'ERR_RENDER_FAILED',
    shouldReconnect: 'ERR_POLICY_FAILED',
    listener: 'ERR_LISTENER_FAILED',
    greeting: 'ERR_GREETING_FAILED',
    url: 'ERR_URL',
    now: 'ERR_POLICY_FAILED',
  };
  type Outcome = 'rejecting' | 'survived' | 'failing';
  /** What a failure leads to: the inbound message rejected, the connection carrying on, or the attempt failed. */
  const outcomeOf = (name: Callback, how: Failure): Outcome => {
    // a rejecting update comes too late to refuse its message: the connection carries on and reports it
    if (name === 'update') return how === 'throw' ? 'rejecting' : 'survived';
    if (name === 'decode' || name === 'parse') return 'rejecting';
    if (name === 'greeting' || name === 'url') return 'failing';
    return 'survived';
  };

  const step = fc.oneof(
    fc.record({ kind: fc.constant('open' as const) }),
    fc.record({ kind: fc.constant('receive' as const), n: fc.nat(100) }),
    fc.record({ kind: fc.constant('close' as const), code: fc.constantFrom(1000, 1006, 1011, 1012, 1013, 4401) }),
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ kind: fc.constant('frame' as const) }),
    fc.record({ kind: fc.constant('send' as const), n: fc.nat(100) }),
    fc.record({ kind: fc.constant('retry' as const) }),
  );

  it('keep the process running, and the status names the code of every throw and rejection', async () => {
    const coinFace = fc.constantFrom<'ok' | Failure>('ok', 'ok', 'throw', 'reject');
    await fc.assert(
      fc.asyncProperty(fc.array(coinFace, { minLength: 64, maxLength: 64 }), fc.array(step, { maxLength: 40 }), async (coins, steps) => {
        let coin = 0;
        let thrown: Array<{ name: Callback; how: Failure }> = [];
        /** Runs `run`, or instead throws or returns a rejected promise when the next coin says so. */
        const maybe = <R>(name: Callback, run: () => R): R => {
          const face = coins[coin++ % coins.length];
          if (face === 'throw') {
            thrown.push({ name, how: face });
            throw new Error(`${name} threw at random`);
          }
          if (face === 'reject') {
            thrown.push({ name, how: face });
            return Promise.reject(new Error(`${name} rejected at random`)) as R;
          }
          return run();
        };
        let time = 0;
        const frames: Array<() => void> = [];
        const store = createStore();
        const t = createTestConnection({
          url: () => maybe('url', () => 'ws://statesocket.test/'),
          model: {
            update: (message: unknown) => maybe('update', () => store.update(message)),
            getData: () => maybe('getData', () => store.getData()),
          },
          view: { render: () => maybe('render', () => undefined) },
          greeting: () => maybe('greeting', () => null),
          reconnect: { shouldReconnect: () => maybe('shouldReconnect', () => true), maxDelayMs: 1000 },
          now: () => maybe('now', () => time),
          protocol: { ...rawProtocol, decode: (message) => maybe('decode', () => ({ type: 'message.received', message })) },
          parse: (data) => maybe('parse', () => JSON.parse(String(data)) as unknown),
          // renders wait for a 'frame' step
          schedule: (flush) =>
            maybe('schedule', () => {
              frames.push(flush);
              return () => frames.splice(frames.indexOf(flush) >>> 0, 1);
            }),
        });
        t.connection.subscribe(() => maybe('listener', () => undefined));
        // what failed while the connection started is reported before the first step
        await settle();

        for (const s of steps) {
          thrown = [];
          const before = t.connection.getStatus();
          const historyMark = t.connection.history.length;
          const socket = t.sockets.all.at(-1);
          // every call below returns normally: a throw out of the handle would fail the property
          if (s.kind === 'open' && socket?.readyState === 0) socket.open();
          else if (s.kind === 'receive' && socket?.readyState === 1) socket.receive({ type: 'patch', set: { [`k${s.n}`]: s.n } });
          else if (s.kind === 'close' && socket !== undefined && socket.readyState <= 1) socket.serverClose(s.code, 'chaos');
          else if (s.kind === 'advance') {
            time += s.ms;
            t.advance(s.ms);
          }
          else if (s.kind === 'frame') frames.splice(0).forEach((flush) => flush());
          else if (s.kind === 'retry') t.connection.retry();
          else if (s.kind === 'send') {
            try {
              t.connection.send({ n: s.n });
            } catch (error) {
              // the handle's documented answer when the outbox is full, not an escape
              expect((error as { code?: string }).code).toBe('ERR_OUTBOX_FULL');
            }
          }
          // rejections are reported when their promise settles
          await settle();
          const after = t.connection.getStatus();
          const of = (outcome: Outcome) => thrown.filter(({ name, how }) => outcomeOf(name, how) === outcome).map(({ name, how }) => (name === 'update' && how === 'reject' ? 'update.rejected' : name));
          const codeOf = (name: string): ErrorCode => (name === 'update.rejected' ? 'ERR_MODEL_REJECTED' : CODE[name as Callback]);

          // an inbound message a callback threw on is rejected, with that callback's code
          const rejecting = of('rejecting');
          if (rejecting.length > 0) {
            expect(after.lastRejected?.code).toBe(codeOf(rejecting.at(-1)!));
            expect(after.counters.rejected).toBe(before.counters.rejected + rejecting.length);
          }
          // a callback the connection carried on after is counted, and the latest such code is in the status
          const survived = of('survived');
          const notListeners = survived.filter((name) => name !== 'listener').length;
          const added = after.counters.callbackErrors - before.counters.callbackErrors;
          expect(added).toBeGreaterThanOrEqual(notListeners);
          expect(added).toBeLessThanOrEqual(survived.length);
          if (survived.length > 0) expect(survived.map(codeOf)).toContain(after.lastCallbackError?.code);
          // a greeting or URL that threw or rejected failed its attempt, and history says so
          const failing = of('failing');
          const recorded = t.connection.history.slice(historyMark).map((entry) => entry.error?.code);
          for (const name of failing) expect(recorded).toContain(codeOf(name));
        }
        expect(['idle', 'connecting', 'open', 'errored', 'closed']).toContain(t.connection.getStatus().state);
        t.connection.stop();
        // no throw and no rejection reached the process (checked per run, so a counterexample shrinks)
        await settle();
        expect(escaped).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
