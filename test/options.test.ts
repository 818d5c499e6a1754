import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { computeRetryDelay } from '../src/backoff.js';
import { createConnectionFactory } from '../src/connection.js';
import { DEFAULT_OPTIONS, resolveOptions } from '../src/options.js';
import type { ConnectionOptions } from '../src/options.js';
import { rawProtocol } from '../src/protocol.js';
import { timeoutScheduler } from '../src/scheduler.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import { createFakeSockets } from '../src/testing/index.js';
import { MAX_TIMER_MS } from '../src/timers.js';

const { WebSocket } = createFakeSockets();
const resolve = (options: Record<string, unknown>) =>
  resolveOptions({ url: 'ws://localhost/', WebSocket, ...options } as ConnectionOptions, undefined);

describe('options', () => {
  it('fills in every default', () => {
    const resolved = resolve({});
    expect(resolved.config).toEqual({
      connectTimeoutMs: 10_000,
      closeTimeoutMs: 2_000,
      reconnect: {
        enabled: true,
        initialDelayMs: 500,
        maxDelayMs: 30_000,
        factor: 2,
        maxAttempts: Infinity,
        stableAfterMs: 5_000,
        serviceRestartDelayMs: 5_000,
      },
      heartbeat: null,
      outbox: { limit: 1000, overflow: 'reject' },
      maxBufferedBytes: 1_048_576,
      maxMessageBytes: 1_048_576,
      closeOnOffline: true,
      drainCheckMs: DEFAULT_OPTIONS.drainCheckMs,
    });
    expect(resolved.autoStart).toBe(true);
  });

  it.each([
    [{ url: 42 }, TypeError, /option `url` must be a ws:\/\/ URL or a function returning one; received 42/],
    [{ url: 'http://x/' }, TypeError, /option `url`: expected a ws:\/\/ or wss:\/\/ URL, received http:/],
    [{ url: 'not a url' }, TypeError, /option `url`: "\[redacted\]" is not a valid URL/],
    [{ connectTimeoutMs: -1 }, RangeError, /option `connectTimeoutMs` must be at least 1; received -1/],
    [{ connectTimeoutMs: '5' }, TypeError, /option `connectTimeoutMs` must be a number; received "5"/],
    [{ closeTimeoutMs: Infinity }, RangeError, /option `closeTimeoutMs` must be finite; received Infinity/],
    [{ reconnect: { factor: 0.5 } }, RangeError, /option `reconnect.factor` must be at least 1; received 0.5/],
    [{ reconnect: { maxAttempts: 1.5 } }, RangeError, /option `reconnect.maxAttempts` must be a whole number; received 1.5/],
    [{ reconnect: { initialDelayMs: 100, maxDelayMs: 50 } }, RangeError, /`reconnect.maxDelayMs` \(50\) must be at least `reconnect.initialDelayMs` \(100\)/],
    [{ reconnect: { retries: 3 } }, TypeError, /unknown option `reconnect.retries`/],
    [{ reconnect: true }, TypeError, /option `reconnect` must be an object; received true/],
    [{ heartbeat: { intervalMs: 1000 } }, TypeError, /option `heartbeat` needs intervalMs and timeoutMs/],
    [{ heartbeat: { intervalMs: 0, timeoutMs: 10 } }, RangeError, /option `heartbeat.intervalMs` must be at least 1; received 0/],
    [{ outbox: { overflow: 'drop-all' } }, TypeError, /option `outbox.overflow` must be 'reject', 'drop-oldest' or 'drop-newest'; received "drop-all"/],
    [{ outbox: { limit: -1 } }, RangeError, /option `outbox.limit` must be at least 0; received -1/],
    [{ model: {} }, TypeError, /option `model` must have update\(\) and getData\(\)/],
    [{ view: { draw() {} } }, TypeError, /option `view` must have render\(\)/],
    [{ parse: 'json' }, TypeError, /option `parse` must be a function; received "json"/],
    [{ protocols: [1] }, TypeError, /option `protocols` must be a string or an array of strings; received \[1\]/],
    [{ autoStart: 'yes' }, TypeError, /option `autoStart` must be a boolean; received "yes"/],
    [{ reconect: {} }, TypeError, /unknown option `reconect`/],
    [{ WebSocket: undefined, url: 'ws://x/' }, TypeError, /option `WebSocket` is required here/],
    [{ protocols: ['a', 'a'] }, TypeError, /option `protocols` lists "a" twice/],
    [{ protocols: 'a b' }, TypeError, /option `protocols`: "a b" is not a valid subprotocol \(RFC 6455/],
    [{ protocols: ['v1', 'chat,v2'] }, TypeError, /option `protocols`: "chat,v2" is not a valid subprotocol/],
    [{ protocols: '' }, TypeError, /option `protocols`: "" is not a valid subprotocol/],
    [{ outbox: { limt: 5 } }, TypeError, /unknown option `outbox.limt` \(outbox takes limit, overflow\)/],
    [{ heartbeat: { intervalMs: 10, timeoutMs: 5, foo: 1 } }, TypeError, /unknown option `heartbeat.foo`/],
    [{ heartbeat: { intervalMs: 10, timeoutMs: 5, message: 'x'.repeat(2_000_000) } }, RangeError, /option `heartbeat.message` is 2000000 bytes, over maxMessageBytes \(1048576\)/],
    [{ maxMessageBytes: 8, heartbeat: { intervalMs: 10, timeoutMs: 5 } }, RangeError, /option `heartbeat.message` is 15 bytes, over maxMessageBytes \(8\)/],
    [{ heartbeat: { intervalMs: 10, timeoutMs: 5, message: () => 1 } }, TypeError, /option `heartbeat.message` must be a frame .*received a function/],
    [{ environment: { window: 5 } }, TypeError, /option `environment.window` must have addEventListener\(\) and removeEventListener\(\).*received 5/],
    [{ environment: { document: {} } }, TypeError, /option `environment.document` must have addEventListener\(\)/],
    [{ environment: { navigator: 'online' } }, TypeError, /option `environment.navigator` must be an object with onLine/],
    [{ environment: { windw: {} } }, TypeError, /unknown option `environment.windw`/],
  ])('rejects %j', (options, type, message) => {
    expect(() => resolve(options)).toThrow(type);
    expect(() => resolve(options)).toThrow(message);
  });

  it('accepts subprotocols that are RFC 6455 tokens, each once', () => {
    expect(resolve({ protocols: ['v1.statesocket', "a!#$%&'*+-.^_`|~z"] }).protocols).toEqual(['v1.statesocket', "a!#$%&'*+-.^_`|~z"]);
    expect(resolve({ protocols: 'chat' }).protocols).toBe('chat');
  });

  it('accepts environment targets with the shapes it uses', () => {
    const target = { addEventListener() {}, removeEventListener() {} };
    const environment = { window: target, document: { ...target, visibilityState: 'visible' }, navigator: { onLine: true } };
    expect(resolve({ environment }).environment).toBe(environment);
    expect(resolve({ environment: false }).environment).toEqual({});
  });

  it('takes the protocol ping as the heartbeat message', () => {
    const resolved = resolve({
      heartbeat: { intervalMs: 1000, timeoutMs: 500 },
      protocol: { name: 'p', decode: () => [], encode: () => ({ frame: '' }), ping: 'PING' },
    });
    expect(resolved.config.heartbeat).toEqual({ intervalMs: 1000, timeoutMs: 500, message: 'PING' });
  });
});

describe('timer limits', () => {
  const over = MAX_TIMER_MS + 1;

  it('is 2³¹−1 ms, the longest delay setTimeout keeps', () => {
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
  });

  /** Every option that becomes a timer, as the options object that sets it to `value`. */
  const timerOptions: Array<[string, (value: number) => Record<string, unknown>]> = [
    ['connectTimeoutMs', (value) => ({ connectTimeoutMs: value })],
    ['closeTimeoutMs', (value) => ({ closeTimeoutMs: value })],
    ['reconnect.initialDelayMs', (value) => ({ reconnect: { initialDelayMs: value, maxDelayMs: value } })],
    ['reconnect.maxDelayMs', (value) => ({ reconnect: { maxDelayMs: value } })],
    ['reconnect.stableAfterMs', (value) => ({ reconnect: { stableAfterMs: value } })],
    ['reconnect.serviceRestartDelayMs', (value) => ({ reconnect: { serviceRestartDelayMs: value } })],
    ['heartbeat.intervalMs', (value) => ({ heartbeat: { intervalMs: value, timeoutMs: 10 } })],
    ['heartbeat.timeoutMs', (value) => ({ heartbeat: { intervalMs: 10, timeoutMs: value } })],
  ];

  it.each(timerOptions)('accepts %s up to 2³¹−1 ms', (_name, set) => {
    expect(() => resolve(set(MAX_TIMER_MS))).not.toThrow();
  });

  it.each(timerOptions.flatMap(([name, set]) => [over, 3e9, 1e12].map((value) => [name, value, set] as const)))(
    'refuses %s = %d with a RangeError naming it',
    (name, value, set) => {
      const escaped = name.replace('.', '\\.');
      expect(() => resolve(set(value))).toThrow(RangeError);
      expect(() => resolve(set(value))).toThrow(
        new RegExp(`option \`${escaped}\` must be at most 2147483647 \\(2³¹−1 ms, the longest a timer can wait\\); received ${value}`),
      );
    },
  );

  it('refuses a render frame longer than a timer can wait', () => {
    expect(() => timeoutScheduler(3e9)).toThrow(RangeError);
    expect(() => timeoutScheduler(Number.NaN)).toThrow(/frameMs must be a number from 0 to 2147483647; received NaN/);
    expect(() => timeoutScheduler(MAX_TIMER_MS)).not.toThrow();
  });

  it('never computes a backoff wait longer than a timer can wait, whatever the attempt, factor or random source', () => {
    fc.assert(
      fc.property(
        fc.record({
          initialDelayMs: fc.integer({ min: 0, max: MAX_TIMER_MS }),
          maxDelayMs: fc.constant(MAX_TIMER_MS),
          factor: fc.oneof(fc.constant(1e308), fc.double({ min: 1, max: 1e308, noNaN: true })),
          serviceRestartDelayMs: fc.integer({ min: 0, max: MAX_TIMER_MS }),
        }),
        fc.nat(5000),
        fc.oneof(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.constantFrom(1, 2, -1, Number.NaN, Infinity, 1e308)),
        fc.constantFrom(undefined, 1006, 1012, 1013),
        (settings, attempt, random, closeCode) => {
          const delay = computeRetryDelay(settings, attempt, random, closeCode);
          expect(Number.isNaN(delay)).toBe(false);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(MAX_TIMER_MS);
        },
      ),
    );
  });

  describe('on the real timers', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it('arms the connect timeout with the delay asked for, not one a timer would cut to 1 ms', () => {
      const delays: number[] = [];
      const realSetTimeout = globalThis.setTimeout;
      vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
        delays.push(ms ?? 0);
        return realSetTimeout(() => {}, 0);
      }) as typeof setTimeout);
      const sockets = createFakeSockets();
      const connection = createConnectionFactory(() => sockets.WebSocket)({
        url: 'ws://localhost/',
        connectTimeoutMs: MAX_TIMER_MS,
        schedule: () => () => {},
      });
      try {
        expect(connection.getStatus().state).toBe('connecting');
        expect(delays).toContain(MAX_TIMER_MS);
        expect(delays.every((ms) => ms <= MAX_TIMER_MS)).toBe(true);
      } finally {
        connection.stop();
      }
    });
  });
});

describe('channel options', () => {
  const createConnection = createConnectionFactory(() => WebSocket);
  it.each([
    [[], /channel\("notes"\): options must be an object \{ model\?, view\?, presence\? \}; received \[\]/],
    [{ presense: true }, /channel\("notes"\): unknown option `presense` \(channel\(\) takes model, view, presence\)/],
    [{ model: {} }, /channel\("notes"\): option `model` must have update\(\) and getData\(\)/],
    [{ view: { paint() {} } }, /channel\("notes"\): option `view` must have render\(\)/],
    [{ presence: 'yes' }, /channel\("notes"\): option `presence` must be true, false or \{ view \}; received "yes"/],
    [{ presence: 1 }, /option `presence` must be true, false or \{ view \}/],
    [{ presence: { views: {} } }, /unknown option `presence.views` \(presence takes view\)/],
    [{ presence: { view: 1 } }, /option `presence.view` must have render\(\); received 1/],
  ])('refuses %j when channel() is called, with a TypeError naming the option', (options, message) => {
    const connection = createConnection({ url: 'ws://localhost/', autoStart: false });
    const open = () => connection.channel('notes', options as never);
    expect(open).toThrow(TypeError);
    expect(open).toThrow(message);
    connection.stop();
  });

  it('takes model, view and presence of the right shapes', () => {
    const connection = createConnection({ url: 'ws://localhost/', autoStart: false });
    const view = { render() {} };
    expect(connection.channel('a', { presence: { view }, view }).presence).not.toBeNull();
    expect(connection.channel('b', { presence: false }).presence).toBeNull();
    expect(connection.channel('c', {}).name).toBe('c');
    connection.stop();
  });

  it('names a protocol without channels as its user made it', () => {
    for (const [protocol, label] of [[createSyncProtocol(), /is createSyncProtocol\(\), the sync protocol's version 1$/], [rawProtocol, /is rawProtocol$/]] as const) {
      const connection = createConnection({ url: 'ws://localhost/', autoStart: false, protocol });
      expect(() => connection.channel('notes')).toThrow(label);
      connection.stop();
    }
  });

  it('names the protocol option a newcomer passes to createConnection', () => {
    expect(() => resolve({ token: 't-ann' })).toThrow(/unknown option `token` \(it is an option of the protocol: protocol: createChannelProtocol\(\{ token \}\)\)/);
    expect(() => resolve({ clientId: 'c1' })).toThrow(/createChannelProtocol\(\{ clientId \}\)/);
  });
});
