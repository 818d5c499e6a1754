/**
 * A connection's timer source: the XState `clock` its actor runs on, made from
 * the `clock` option (the host's setTimeout and clearTimeout when there is
 * none) and guarded like every callback a user supplies. A class, so that a
 * connection holds one small object: XState calls `clock.setTimeout(...)` and
 * `clock.clearTimeout(...)` as methods.
 */
import { describeThrown } from './errors.js';
import type { ErrorCode } from './errors.js';
import type { Clock } from './types.js';

type HostTimer = ReturnType<typeof setTimeout>;

/** The host's timers, shared by every connection without a `clock` option. */
const hostClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as HostTimer),
};

class GuardedClock implements Clock {
  /**
   * Timers the `clock` option refused (its setTimeout threw) and the host's
   * setTimeout took instead; the token XState holds maps to the host's id.
   * Made on first use: a WeakMap per connection would cost every connection
   * heap for a rare case.
   */
  private hostTimers: WeakMap<object, HostTimer> | null = null;

  constructor(
    private readonly base: Clock,
    private readonly failed: (code: ErrorCode, message: string) => void,
    private readonly around: (fire: () => void) => void,
  ) {}

  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown {
    const fire = () => this.around(fn);
    try {
      return this.base.setTimeout(fire, ms);
    } catch (error) {
      // A throw here would stop the machine mid-transition: the timer runs on the host's clock instead.
      this.failed('ERR_POLICY_FAILED', `clock.setTimeout threw: ${describeThrown(error)}; the host's setTimeout was used`);
      const token = {};
      (this.hostTimers ??= new WeakMap()).set(token, setTimeout(fire, ms));
      return token;
    }
  }

  clearTimeout(id: unknown): void {
    const host = typeof id === 'object' && id !== null ? this.hostTimers?.get(id) : undefined;
    if (host !== undefined) {
      this.hostTimers?.delete(id as object);
      clearTimeout(host);
      return;
    }
    try {
      this.base.clearTimeout(id);
    } catch (error) {
      // the timer may still fire: the machine ignores a delayed event for a state it has left
      this.failed('ERR_POLICY_FAILED', `clock.clearTimeout threw: ${describeThrown(error)}`);
    }
  }
}

/**
 * The clock a connection's actor runs on.
 *
 * @param clock the `clock` option; without one, the host's setTimeout and clearTimeout
 * @param failed reports a throw from `clock` (`ERR_POLICY_FAILED`, `status.lastCallbackError`); the
 *   connection carries on: a timer `clock.setTimeout` refused runs on the host's setTimeout
 * @param around runs each timer's callback (`around(fire)` must call `fire`): the connection watches
 *   which delayed event the timer sends (src/causes.ts)
 */
export function createClock(
  clock: Clock | undefined,
  failed: (code: ErrorCode, message: string) => void,
  around: (fire: () => void) => void,
): Clock {
  return new GuardedClock(clock ?? hostClock, failed, around);
}
