/**
 * The one limit every timer delay obeys.
 *
 * Browsers and Node keep a timer's delay in a signed 32-bit integer: a longer
 * one fires after 1 ms (Node warns `TimeoutOverflowWarning`). That turned
 * `connectTimeoutMs: 3e9` into a timeout at once and `maxDelayMs: 1e12` into a
 * reconnect storm (issue 11, item 10). Options that become timers are refused
 * above it, and computed delays are capped at it.
 */

/** The longest delay a timer can wait, in milliseconds: 2³¹−1 (about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;
