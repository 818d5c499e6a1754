/**
 * What the page counts for tests and the bench, and nothing else: the price table's React commits
 * (its `<Profiler>`) and, between `start()` and `stop()`, the animation frames that passed (one
 * `requestAnimationFrame` callback each). Frames are counted only while asked for, so an idle page
 * runs no frame loop of its own.
 */

export interface Probe {
  /** Commits of the price table since the page loaded. */
  commits(): number;
  /** Starts counting frames from zero (a no-op while counting). */
  start(): void;
  /** Stops counting; the count stays readable. */
  stop(): void;
  /** Frames counted since the last `start()`. */
  frames(): number;
}

let commits = 0;
let frames = 0;
let frame: number | null = null;

/** The table's `<Profiler onRender>`. */
export function countCommit(): void {
  commits++;
}

const tick = () => {
  frames++;
  frame = requestAnimationFrame(tick);
};

export const probe: Probe = Object.freeze({
  commits: () => commits,
  start() {
    if (frame !== null) return;
    frames = 0;
    frame = requestAnimationFrame(tick);
  },
  stop() {
    if (frame !== null) cancelAnimationFrame(frame);
    frame = null;
  },
  frames: () => frames,
});
