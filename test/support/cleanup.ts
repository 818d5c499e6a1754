/**
 * Cleanup registry and bounded waits for tests that start real servers,
 * sockets and processes. Importing it installs the afterEach that runs every
 * registered cleanup, newest first, even when one fails.
 */
import { afterEach } from 'vitest';

/** The generous safety bound for waits on events; never a timing assertion. */
export const SAFETY_TIMEOUT_MS = 5_000;

const cleanups: Array<() => void | Promise<void>> = [];

/** Registers a cleanup; they run newest first after each test. */
export function onCleanup(cleanup: () => void | Promise<void>): void {
  cleanups.push(cleanup);
}

afterEach(async () => {
  // Run every cleanup even when one fails, then report the first failure.
  const failures: unknown[] = [];
  for (let cleanup = cleanups.pop(); cleanup !== undefined; cleanup = cleanups.pop()) {
    try {
      await cleanup();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
});

/** Rejects with `what` if `promise` has not settled within the safety timeout. */
export function withTimeout<T>(promise: Promise<T>, what: string, timeoutMs = SAFETY_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
