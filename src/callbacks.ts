/**
 * Guards for what a user callback returns. Every callback statesocket calls is
 * synchronous: a promise it returns is not awaited. An `async` callback that
 * rejects would otherwise reach the process as an unhandled rejection, which
 * ends Node (>= 15) by default (issue 11 review, finding a17). So wherever a
 * callback's result is not otherwise used, its rejection is caught here and
 * reported with that callback's code.
 */
/** True when `value` is a promise or any other thenable. Never throws (a `then` getter may). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  try {
    return typeof (value as { then?: unknown }).then === 'function';
  } catch {
    return false;
  }
}

/**
 * When `value` is a thenable, calls `onRejected` with its rejection reason
 * instead of letting it become an unhandled rejection; a fulfilment is
 * ignored. Returns whether `value` was a thenable. Never throws, and neither
 * does the handler it attaches.
 */
export function catchRejection(value: unknown, onRejected: (reason: unknown) => void = () => {}): boolean {
  if (!isThenable(value)) return false;
  const handle = (reason: unknown) => {
    try {
      onRejected(reason);
    } catch {
      // reporting must not become the next unhandled rejection
    }
  };
  try {
    // Promise.resolve adopts any thenable, including one whose `then` throws (that becomes a rejection)
    Promise.resolve(value).then(undefined, handle);
  } catch (error) {
    handle(error);
  }
  return true;
}

/** A returned value for a status message: "a promise" for a thenable, else a short rendering. */
export function describeResult(value: unknown): string {
  if (isThenable(value)) return 'a promise';
  if (value === null) return 'null';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'object' || typeof value === 'function') return `a${typeof value === 'object' ? 'n' : ''} ${typeof value}`;
  return String(value);
}
