/**
 * Reconnect delays: exponential backoff with full jitter
 * (see "Exponential Backoff And Jitter", AWS Architecture Blog, 2015).
 * Pure: the randomness comes in as an argument.
 */
import { isServiceRestart } from './close-codes.js';

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
  const jittered = random * ceiling;
  return isServiceRestart(closeCode) ? Math.max(jittered, settings.serviceRestartDelayMs) : jittered;
}
