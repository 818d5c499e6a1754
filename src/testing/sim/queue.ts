/**
 * The simulator's own event queue (separate from the client's timers): network deliveries,
 * handshakes and scheduled faults, in time order, ties in the order they were queued.
 */
import type { TestClock } from '../clock.js';

interface QueuedEvent {
  at: number;
  order: number;
  label: string;
  run: () => void;
}

export interface SimQueue {
  /** Queues `run` at the simulated time `time`. */
  at(time: number, label: string, run: () => void): void;
  /** Queues `run` `ms` from now. */
  after(ms: number, label: string, run: () => void): void;
  /** The time of the next event, or Infinity. */
  nextAt(): number;
  /** Takes the next event out of the queue and runs it. */
  runNext(): void;
  readonly length: number;
}

export function createSimQueue(clock: TestClock): SimQueue {
  const queue: QueuedEvent[] = [];
  let order = 0;
  const at = (time: number, label: string, run: () => void) => {
    const event = { at: time, order: order++, label, run };
    let i = queue.length;
    while (i > 0 && (queue[i - 1] as QueuedEvent).at > time) i--;
    queue.splice(i, 0, event);
  };
  const after = (ms: number, label: string, run: () => void) => at(clock.now() + ms, label, run);
  return {
    at,
    after,
    nextAt: () => queue[0]?.at ?? Infinity,
    runNext() {
      const event = queue.shift() as QueuedEvent;
      event.run();
    },
    get length() {
      return queue.length;
    },
  };
}
