/**
 * Clocks for the bench. Every process stamps events with `wallNow()`: wall-clock
 * milliseconds with sub-millisecond precision, comparable across the parent,
 * the server child and the client children (they share the system clock).
 * Browser-safe (the global `performance`): the browser scenario's pages use the bench's workload.
 */

/** Wall-clock time in milliseconds, precise to microseconds; comparable across processes. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms`; the timer does not keep the process alive on its own. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, Math.max(0, ms)).unref();
  });
}

/** Rejects with a message naming what was awaited when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
