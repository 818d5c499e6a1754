/** A count that can be awaited: resolves waiters once it reaches their target. */
import { withTimeout } from './time.js';

export class Counter {
  value = 0;
  private waiters: Array<{ target: number; resolve: () => void }> = [];

  add(n = 1): void {
    this.value += n;
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((waiter) => {
      if (this.value < waiter.target) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once the count is at least `target`; rejects after `timeoutMs`. */
  reach(target: number, timeoutMs: number, what: string): Promise<void> {
    if (this.value >= target) return Promise.resolve();
    const reached = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    return withTimeout(reached, timeoutMs, `${what} (${this.value} of ${target})`);
  }
}
