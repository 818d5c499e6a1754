/**
 * A connection's status listeners (`connection.subscribe`), each called with
 * every new status, and guarded: one listener's throw does not keep the
 * others from the status, nor escape; it is reported once per status as
 * `ERR_LISTENER_FAILED`, and a rejection like a throw. A class, so that a
 * connection holds one small object.
 */
import { catchRejection, isThenable } from './callbacks.js';
import { describeThrown, type ErrorCode } from './errors.js';
import type { ConnectionStatus } from './types.js';

export type StatusListener = (status: ConnectionStatus) => void;

export class Listeners {
  /** Made by the first `add`: most connections never have a listener (heap per connection, issue 15). */
  private listeners: Set<StatusListener> | null = null;
  /** The listeners in order, copied once per change of the set rather than at every status (every message, issue 15); a listener that subscribes or unsubscribes while they run leaves this copy as it was. */
  private ordered: readonly StatusListener[] | null = null;

  constructor(private readonly failed: (code: ErrorCode, message: string) => void) {}

  /** Adds `listener`; returns the function that removes it. */
  add(listener: StatusListener): () => void {
    const listeners = (this.listeners ??= new Set());
    listeners.add(listener);
    this.ordered = null;
    return () => {
      if (listeners.delete(listener)) this.ordered = null;
    };
  }

  /**
   * Calls every listener with `status`, in the order they were added. With
   * `report` false (the status that reports a listener's failure) a failure
   * is not reported: a listener that always throws, or always rejects, would loop.
   */
  notify(status: ConnectionStatus, report: boolean): void {
    if (this.listeners === null || this.listeners.size === 0) return;
    const failed = this.failed;
    let failure: { error: unknown } | null = null;
    for (const listener of (this.ordered ??= [...this.listeners])) {
      try {
        const result = listener(status);
        // the handler is a closure: made only for a promise
        if (isThenable(result)) catchRejection(result, report ? (error: unknown) => failed('ERR_LISTENER_FAILED', `a status listener rejected: ${describeThrown(error)}`) : undefined);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== null && report) failed('ERR_LISTENER_FAILED', `a status listener threw: ${describeThrown(failure.error)}`);
  }
}
