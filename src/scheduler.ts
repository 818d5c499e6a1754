/**
 * Render schedulers: they coalesce many "please render" calls into one call
 * per frame. Injected through the `schedule` option.
 */
import { MAX_TIMER_MS } from './timers.js';
import type { Clock, RenderScheduler } from './types.js';

/** A 60 Hz display frame, in milliseconds: what `frameScheduler()` uses in Node. */
export const FRAME_MS = 1000 / 60;

/**
 * One render per `frameMs` on the given timer source (the global one by
 * default): a request waits `frameMs`, and two renders are never closer than
 * `frameMs` on `now`. Node fires a timer up to a millisecond early (it reads
 * the loop's cached time), so a plain `setTimeout(flush, 16)` renders up to
 * 62.5 times a second; here a timer that fires early waits out the rest of the
 * frame. Create one per connection: the spacing is kept per scheduler.
 *
 * @param frameMs frame length in ms @default 1000 / 60
 * @param clock timer source @default globalThis
 * @param now the time the spacing is measured on @default `clock.now` when it has one, else `performance.now`
 * @throws RangeError when `frameMs` is not a number from 0 to 2³¹−1 (a longer timer would fire at once)
 */
export function timeoutScheduler(
  frameMs = FRAME_MS,
  clock: Pick<Clock, 'setTimeout' | 'clearTimeout'> & { now?: () => number } = globalThis as unknown as Clock,
  now: () => number = typeof clock.now === 'function' ? () => clock.now!() : () => performance.now(),
): RenderScheduler {
  if (typeof frameMs !== 'number' || !(frameMs >= 0 && frameMs <= MAX_TIMER_MS)) {
    throw new RangeError(`statesocket: timeoutScheduler frameMs must be a number from 0 to ${MAX_TIMER_MS}; received ${String(frameMs)}`);
  }
  let lastFlushAt = -Infinity;
  return (flush) => {
    let id: unknown;
    const fire = () => {
      // a clock set back (a custom `now` on the wall clock): start the spacing afresh
      if (now() < lastFlushAt) lastFlushAt = -Infinity;
      const rest = lastFlushAt + frameMs - now();
      if (rest > 0) {
        id = clock.setTimeout(fire, rest);
        return;
      }
      lastFlushAt = now();
      flush();
    };
    id = clock.setTimeout(fire, frameMs);
    return () => clock.clearTimeout(id);
  };
}

/** One render per animation frame (browsers). */
export function animationFrameScheduler(): RenderScheduler {
  return (flush) => {
    const id = globalThis.requestAnimationFrame(() => flush());
    return () => globalThis.cancelAnimationFrame(id);
  };
}

/** `requestAnimationFrame` where the platform has it, else a timer frame of 1000/60 ms. */
export function frameScheduler(): RenderScheduler {
  return typeof globalThis.requestAnimationFrame === 'function' ? animationFrameScheduler() : timeoutScheduler();
}
