import { TestClock } from '../../src/testing/index.js';

/** A TestClock whose setTimeout and clearTimeout throw while `armed`: a `clock` option that fails. */
export class BrokenClock extends TestClock {
  armed = false;
  override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    if (this.armed) throw new Error('clock refused');
    return super.setTimeout(fn, timeout);
  }
  override clearTimeout(id: number): void {
    if (this.armed) throw new Error('clock cannot clear');
    super.clearTimeout(id);
  }
}
