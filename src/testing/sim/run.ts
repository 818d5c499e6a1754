/**
 * What every simulated run starts with, whichever protocol it drives: the seeded random source and
 * its helpers, the simulated clock, and the trace that keeps the last lines for a failure report.
 */
import type { SimOptions } from '../sim.js';
import { TestClock, seededRandom } from '../clock.js';

export function startRun(options: SimOptions, tailLines: number) {
  const random = seededRandom(options.seed);
  const int = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const chance = (p: number) => random() < p;
  const tail: string[] = [];
  const clock = new TestClock();
  const trace = (line: string) => {
    const text = `t=${clock.now()} ${line}`;
    options.trace?.(text);
    tail.push(text);
    if (tail.length > tailLines && options.trace === undefined) tail.shift();
  };
  return { random, int, chance, tail, clock, trace };
}
