import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, resolveOptions } from '../src/options.js';
import type { ConnectionOptions } from '../src/options.js';
import { createFakeSockets } from '../src/testing/index.js';

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
  ])('rejects %j', (options, type, message) => {
    expect(() => resolve(options)).toThrow(type);
    expect(() => resolve(options)).toThrow(message);
  });

  it('takes the protocol ping as the heartbeat message', () => {
    const resolved = resolve({
      heartbeat: { intervalMs: 1000, timeoutMs: 500 },
      protocol: { name: 'p', decode: () => [], encode: () => ({ frame: '' }), ping: 'PING' },
    });
    expect(resolved.config.heartbeat).toEqual({ intervalMs: 1000, timeoutMs: 500, message: 'PING' });
  });
});
