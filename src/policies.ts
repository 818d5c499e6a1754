/**
 * The policies a connection asks for an answer (`now`, `random`, `reconnect.shouldReconnect`),
 * guarded: a throw, or an answer of the wrong type, falls back to the default
 * and is reported as `ERR_POLICY_FAILED` (`status.lastCallbackError`), so the
 * event that asked (a frame, a close, a backoff wait) still reaches the machine.
 */
import { catchRejection, describeResult } from './callbacks.js';
import { shouldReconnect as defaultShouldReconnect, type CloseEventInfo } from './close-codes.js';
import { describeThrown, type ErrorCode } from './errors.js';

/** Reports a policy that failed; the connection carried on with the default. */
type Failed = (code: ErrorCode, message: string) => void;

/** The `now` option, guarded: a throw or a result that is not a finite number gives Date.now(). */
export function guardNow(now: () => number, failed: Failed): () => number {
  return () => {
    let time: unknown;
    try {
      time = now();
    } catch (error) {
      failed('ERR_POLICY_FAILED', `now threw: ${describeThrown(error)}; Date.now was used`);
      return Date.now();
    }
    if (typeof time === 'number' && Number.isFinite(time)) return time;
    catchRejection(time);
    failed('ERR_POLICY_FAILED', `now returned ${describeResult(time)}, not a finite number; Date.now was used`);
    return Date.now();
  };
}

/** The `random` option, guarded: a throw or a result outside [0, 1) (NaN, 1, a promise) gives Math.random() for that call. */
export function guardRandom(random: () => number, failed: Failed): () => number {
  if (random === Math.random) return random;
  return () => {
    let share: unknown;
    try {
      share = random();
    } catch (error) {
      failed('ERR_POLICY_FAILED', `random threw: ${describeThrown(error)}; Math.random chose this wait`);
      return Math.random();
    }
    if (typeof share === 'number' && share >= 0 && share < 1) return share;
    catchRejection(share);
    failed('ERR_POLICY_FAILED', `random returned ${describeResult(share)}, not a number in [0, 1); Math.random chose this wait`);
    return Math.random();
  };
}

/** The close policy, guarded: a throw or an answer that is not a boolean leaves the decision to the default policy. */
export function guardShouldReconnect(policy: (close: CloseEventInfo) => boolean, failed: Failed): (close: CloseEventInfo) => boolean {
  return (close) => {
    let decision: unknown;
    try {
      decision = policy(close);
    } catch (error) {
      failed('ERR_POLICY_FAILED', `reconnect.shouldReconnect threw: ${describeThrown(error)}; the default close policy decided`);
      return defaultShouldReconnect(close);
    }
    if (typeof decision === 'boolean') return decision;
    // A promise (an async policy) would read as `true`; its answer, or its rejection, comes too late to count.
    catchRejection(decision);
    failed(
      'ERR_POLICY_FAILED',
      `reconnect.shouldReconnect returned ${describeResult(decision)}, not a boolean (it must answer synchronously); the default close policy decided`,
    );
    return defaultShouldReconnect(close);
  };
}
