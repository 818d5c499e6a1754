/**
 * Render schedulers: they coalesce many "please render" calls into one call
 * per frame. Injected through the `schedule` option.
 */
import type { Clock, RenderScheduler } from './types.js';

/** One render per `frameMs`, on the given timer source (the global one by default). */
export function timeoutScheduler(frameMs = 16, clock: Pick<Clock, 'setTimeout' | 'clearTimeout'> = globalThis as unknown as Clock): RenderScheduler {
  return (flush) => {
    const id = clock.setTimeout(flush, frameMs);
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

/** `requestAnimationFrame` where the platform has it, else a 16 ms frame. */
export function frameScheduler(): RenderScheduler {
  return typeof globalThis.requestAnimationFrame === 'function' ? animationFrameScheduler() : timeoutScheduler(16);
}
