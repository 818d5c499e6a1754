import { describe, expect, it } from 'vitest';
import { computeRetryDelay } from '../src/backoff.js';
import { createTestConnection } from '../src/testing/index.js';

/** Fails the current attempt the way a refused connection does. */
function refuse(t: ReturnType<typeof createTestConnection>) {
  t.socket.error('connect ECONNREFUSED 127.0.0.1:1');
}

describe('reconnecting', () => {
  it('waits exactly the full-jitter backoff for a seeded random', () => {
    const t = createTestConnection({ seed: 42 });
    const delays: number[] = [];
    for (let n = 0; n < 8; n++) {
      refuse(t);
      const status = t.connection.getStatus();
      expect(status.state).toBe('errored');
      delays.push(Math.round((status.nextDelayMs ?? NaN) * 1000) / 1000);
      t.advance(status.nextDelayMs ?? 0);
      expect(t.connection.getStatus().state).toBe('connecting');
    }
    // random() * min(30000, 500 * 2 ** n) with seededRandom(42)
    expect(delays).toEqual([300.552, 448.291, 1704.932, 2678.936, 1398.511, 8425.481, 8196.84, 18742.34]);
    t.connection.stop();
  });

  it('starts the next attempt at nextRetryAt, not a millisecond earlier', () => {
    const t = createTestConnection();
    refuse(t);
    const { nextRetryAt, nextDelayMs } = t.connection.getStatus();
    expect(nextRetryAt).toBe(t.clock.now() + (nextDelayMs ?? NaN));
    const before = t.sockets.all.length;
    t.clock.set(Math.ceil(nextRetryAt ?? 0) - 1);
    expect(t.connection.getStatus().state).toBe('errored');
    t.advance(1);
    expect(t.connection.getStatus().state).toBe('connecting');
    expect(t.sockets.all.length).toBe(before + 1);
    t.connection.stop();
  });

  it('grows the waits when a server accepts and drops at once', () => {
    const t = createTestConnection({ random: () => 0.999 });
    const ceilings: number[] = [];
    for (let n = 0; n < 5; n++) {
      t.open();
      t.socket.drop();
      ceilings.push(Math.round(t.connection.getStatus().nextDelayMs ?? 0));
      t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    }
    expect(ceilings).toEqual([500, 999, 1998, 3996, 7992]);
    expect(t.connection.getStatus().attempt).toBe(5);
    t.connection.stop();
  });

  it('resets the attempt counter only after stableAfterMs open', () => {
    const t = createTestConnection({ reconnect: { stableAfterMs: 5000 }, random: () => 0.5 });
    refuse(t);
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    refuse(t);
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    expect(t.connection.getStatus().attempt).toBe(2);
    t.open();
    t.advance(4999);
    expect(t.connection.getStatus().attempt).toBe(2);
    t.advance(1);
    expect(t.connection.getStatus().attempt).toBe(0);
    t.socket.drop();
    expect(t.connection.getStatus().nextDelayMs).toBe(250); // 0.5 * 500: back to the first ceiling
    t.connection.stop();
  });

  it('goes to closed with ERR_RETRIES_EXHAUSTED after maxAttempts reconnects', () => {
    const t = createTestConnection({ reconnect: { maxAttempts: 2 } });
    refuse(t);
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    refuse(t);
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    refuse(t);
    const status = t.connection.getStatus();
    expect(status.state).toBe('closed');
    expect(status.lastError?.code).toBe('ERR_RETRIES_EXHAUSTED');
    expect(status.counters.reconnects).toBe(2);
    expect(t.sockets.all).toHaveLength(3);
    expect(t.clock.pendingTimers).toBe(0);
    t.connection.stop();
  });

  it('never reconnects with reconnect: false', () => {
    const t = createTestConnection({ reconnect: false });
    t.open();
    t.socket.drop();
    const status = t.connection.getStatus();
    expect(status.state).toBe('closed');
    expect(status.lastError).toMatchObject({ code: 'ERR_ABNORMAL_CLOSE', closeCode: 1006 });
    expect(t.clock.pendingTimers).toBe(0);
    t.connection.stop();
  });

  it.each([1012, 1013])('waits at least serviceRestartDelayMs after close %i', (code) => {
    const t = createTestConnection({ random: () => 0.1, reconnect: { serviceRestartDelayMs: 5000 } });
    t.open();
    t.socket.close(code, 'restarting');
    expect(t.connection.getStatus()).toMatchObject({ state: 'errored', nextDelayMs: 5000 });
    t.advance(4999);
    expect(t.connection.getStatus().state).toBe('errored');
    t.advance(1);
    expect(t.connection.getStatus().state).toBe('connecting');
    t.connection.stop();
  });

  it('skips the wait on client.retry', () => {
    const t = createTestConnection({ reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 }, random: () => 0.9 });
    refuse(t);
    expect(t.connection.getStatus().state).toBe('errored');
    t.connection.retry();
    expect(t.connection.getStatus()).toMatchObject({ state: 'connecting', attempt: 1, nextRetryAt: null });
    expect(t.clock.now()).toBe(0);
    t.connection.stop();
  });

  it('reconnects from closed on retry, with a fresh attempt count', () => {
    const t = createTestConnection({ reconnect: { maxAttempts: 0 } });
    refuse(t);
    expect(t.connection.getStatus().state).toBe('closed');
    t.connection.retry();
    expect(t.connection.getStatus()).toMatchObject({ state: 'connecting', attempt: 0 });
    t.connection.stop();
  });
});

describe('backoff', () => {
  const settings = { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2, serviceRestartDelayMs: 5000 };

  it.each([
    [0, 0.5, undefined, 250],
    [1, 0.5, undefined, 500],
    [10, 0.5, undefined, 15_000],
    [3, 0, undefined, 0],
    [3, 0, 1012, 5000],
    [20, 0.9, 1013, 27_000],
    [0, 0.5, 1006, 250],
    [5000, 0.5, undefined, 15_000], // factor ** attempt overflows: capped at maxDelayMs
  ])('attempt %i with random %d and close %s waits %d ms', (attempt, random, code, expected) => {
    expect(computeRetryDelay(settings, attempt, random, code)).toBe(expected);
  });

  it('stays 0 with initialDelayMs 0 however many attempts (found by fast-check)', () => {
    expect(computeRetryDelay({ ...settings, initialDelayMs: 0, maxDelayMs: 0 }, 1472, 0)).toBe(0);
  });
});
