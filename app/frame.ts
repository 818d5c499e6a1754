/**
 * One frame for every render of the page. The connection schedules a render
 * when a message arrives or its state changes; the app needs one also when
 * only the status moves (an edit joins the outbox, an ack settles it, the
 * countdown ticks). Both go through this loop, so the page paints at most once
 * per animation frame: the connection's renders run first, then `afterFlushes`
 * paints only if the app still asked for one.
 */
import type { RenderScheduler } from '../src/types.js';

export interface FrameLoop {
  /** For `createConnection({ schedule })`: the connection's renders run in the loop's frame. */
  schedule: RenderScheduler;
  /** Asks for a frame even when the connection has no render scheduled. */
  request(): void;
  /** Cancels the pending frame. */
  cancel(): void;
}

export function frameLoop(base: RenderScheduler, afterFlushes: () => void): FrameLoop {
  const flushes = new Set<() => void>();
  let cancelFrame: (() => void) | null = null;

  const run = () => {
    cancelFrame = null;
    const due = [...flushes];
    flushes.clear();
    for (const flush of due) flush();
    afterFlushes();
  };
  const ensureFrame = () => {
    cancelFrame ??= base(run);
  };

  return {
    schedule(flush) {
      flushes.add(flush);
      ensureFrame();
      return () => {
        flushes.delete(flush);
      };
    },
    request: ensureFrame,
    cancel() {
      flushes.clear();
      cancelFrame?.();
      cancelFrame = null;
    },
  };
}
