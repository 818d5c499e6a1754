import { describe, expect, it, vi } from 'vitest';
import { createTestConnection } from '../src/testing/index.js';
import { guardNow, guardRandom, guardShouldReconnect } from '../src/policies.js';
import { failureRecorder } from './support/failures.js';

describe('the now policy', () => {
  it('answers with the option while it returns a finite number', () => {
    const r = failureRecorder();
    expect(guardNow(() => 42, r.failed)()).toBe(42);
    expect(r.failures).toEqual([]);
  });

  it.each([
    ['throws', () => { throw new Error('no time'); }, 'now threw: no time; Date.now was used'],
    ['returns NaN', () => Number.NaN, 'now returned NaN, not a finite number; Date.now was used'],
    ['returns a promise', () => Promise.reject(new Error('later')), 'now returned a promise, not a finite number; Date.now was used'],
  ])('falls back to Date.now when it %s, and reports ERR_POLICY_FAILED', (_, now, message) => {
    const r = failureRecorder();
    const before = Date.now();
    const time = guardNow(now as unknown as () => number, r.failed)();
    expect(time).toBeGreaterThanOrEqual(before);
    expect(r.failures).toEqual([{ code: 'ERR_POLICY_FAILED', message }]);
  });
});

describe('the close policy', () => {
  const abnormal = { code: 1006, reason: '', wasClean: false };
  const fatal = { code: 4401, reason: 'unauthorized', wasClean: true };

  it('answers with the option while it returns a boolean', () => {
    const r = failureRecorder();
    const policy = guardShouldReconnect(() => false, r.failed);
    expect(policy(abnormal)).toBe(false);
    expect(r.failures).toEqual([]);
  });

  it.each([
    ['throws', () => { throw new Error('no policy'); }, 'reconnect.shouldReconnect threw: no policy; the default close policy decided'],
    [
      'returns a promise',
      () => Promise.resolve(false),
      'reconnect.shouldReconnect returned a promise, not a boolean (it must answer synchronously); the default close policy decided',
    ],
  ])('leaves the decision to the default policy when it %s, and reports ERR_POLICY_FAILED', (_, decide, message) => {
    const r = failureRecorder();
    const policy = guardShouldReconnect(decide as unknown as () => boolean, r.failed);
    expect([policy(abnormal), policy(fatal)]).toEqual([true, false]);
    expect(r.failures).toEqual([
      { code: 'ERR_POLICY_FAILED', message },
      { code: 'ERR_POLICY_FAILED', message },
    ]);
  });
});

describe('the random source', () => {
  it('answers with the option while it returns a number in [0, 1)', () => {
    const r = failureRecorder();
    for (const share of [0, 0.5, 0.999]) expect(guardRandom(() => share, r.failed)()).toBe(share);
    expect(r.failures).toEqual([]);
  });

  it.each([
    ['throws', () => { throw new Error('no dice'); }, 'random threw: no dice; Math.random chose this wait'],
    ['returns NaN', () => Number.NaN, 'random returned NaN, not a number in [0, 1); Math.random chose this wait'],
    ['returns 1', () => 1, 'random returned 1, not a number in [0, 1); Math.random chose this wait'],
    ['returns -0.5', () => -0.5, 'random returned -0.5, not a number in [0, 1); Math.random chose this wait'],
    ['returns a string', () => '0.5', 'random returned a string, not a number in [0, 1); Math.random chose this wait'],
    ['returns a promise', () => Promise.resolve(0.5), 'random returned a promise, not a number in [0, 1); Math.random chose this wait'],
  ])('uses Math.random for that call when it %s, and reports ERR_POLICY_FAILED', (_, random, message) => {
    const r = failureRecorder();
    const share = guardRandom(random as unknown as () => number, r.failed)();
    expect(share).toBeGreaterThanOrEqual(0);
    expect(share).toBeLessThan(1);
    expect(r.failures).toEqual([{ code: 'ERR_POLICY_FAILED', message }]);
  });

  it('keeps a connection whose random returns NaN to a real backoff wait, and says so', () => {
    const t = createTestConnection({ random: () => Number.NaN, reconnect: { initialDelayMs: 1_000, maxDelayMs: 1_000 } });
    const mathRandom = vi.spyOn(Math, 'random').mockReturnValue(0.75);
    try {
      t.open();
      t.socket.drop();
    } finally {
      mathRandom.mockRestore();
    }
    const status = t.connection.getStatus();
    expect(status.nextDelayMs).toBe(750); // not the 0 ms wait NaN made, attempt after attempt
    expect(status.lastCallbackError).toEqual({ code: 'ERR_POLICY_FAILED', message: 'random returned NaN, not a number in [0, 1); Math.random chose this wait' });
    t.connection.stop();
  });
});
