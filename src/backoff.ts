/**
 * Reconnect delays: exponential backoff with full jitter
 * (see "Exponential Backoff And Jitter", AWS Architecture Blog, 2015).
 * Pure: the randomness comes in as an argument.
 */
import { isServiceRestart } from './close-codes.js';
import { MAX_TIMER_MS } from './timers.js';

export interface BackoffSettings {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  serviceRestartDelayMs: number;
}

/**
 * The wait before reconnect attempt number `attempt + 1`.
 *
 * `random * min(maxDelayMs, initialDelayMs * factor ** attempt)`, raised to
 * `serviceRestartDelayMs` when the last close said the service is restarting
 * (1012) or overloaded (1013): retrying sooner only adds to the storm.
 * Never more than `MAX_TIMER_MS` (a longer timer would fire at once), never
 * NaN, even when `random` strays outside [0, 1).
 *
 * @param attempt failed attempts since the last stable open, starting at 0
 * @param random a number in [0, 1)
 * @param closeCode the code of the close that caused the failure, if any
 * @returns milliseconds to wait
 */
export function computeRetryDelay(
  settings: BackoffSettings,
  attempt: number,
  random: number,
  closeCode?: number,
): number {
  // factor ** attempt overflows to Infinity after enough attempts; 0 * Infinity would be NaN
  const grown = settings.initialDelayMs === 0 ? 0 : settings.initialDelayMs * settings.factor ** attempt;
  const ceiling = Math.min(settings.maxDelayMs, grown);
  // a custom random source outside [0, 1) (or NaN) must not stretch or break the wait
  const share = random > 0 ? Math.min(random, 1) : 0;
  const jittered = share * ceiling;
  const delay = isServiceRestart(closeCode) ? Math.max(jittered, settings.serviceRestartDelayMs) : jittered;
  return Math.min(delay, MAX_TIMER_MS);
}
