import { describe, expect, it } from 'vitest';
import { guardNow, guardShouldReconnect } from '../src/policies.js';
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
