/**
 * `TestClock`: XState's `SimulatedClock` that also knows which timers are
 * pending and advances through them one deadline at a time, so every timer
 * callback sees `now()` equal to its own deadline (plain `increment` fires them
 * all at the final time).
 */
import { SimulatedClock } from 'xstate';

/** A seeded random source in [0, 1) (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class TestClock extends SimulatedClock {
  private readonly deadlines = new Map<number, number>();

  override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id: number = super.setTimeout(() => {
      this.deadlines.delete(id);
      fn();
    }, timeout);
    this.deadlines.set(id, this.now() + timeout);
    return id;
  }

  override clearTimeout(id: number): void {
    this.deadlines.delete(id);
    super.clearTimeout(id);
  }

  /** Timers scheduled and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.deadlines.size;
  }

  /** The earliest pending deadline, or null. */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const deadline of this.deadlines.values()) if (next === null || deadline < next) next = deadline;
    return next;
  }

  /** Moves time forward by `ms`, firing each due timer at its own deadline. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError(`TestClock.advance: ms must be >= 0; received ${ms}`);
    const target = this.now() + ms;
    for (;;) {
      const next = this.nextDeadline();
      if (next === null || next > target) break;
      this.set(Math.max(next, this.now()));
    }
    this.set(target);
  }

  /** Jumps the wall clock forward without running timers first (a laptop waking from sleep). */
  jump(ms: number): void {
    this.set(this.now() + ms);
  }
}
