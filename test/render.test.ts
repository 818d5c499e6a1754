import { describe, expect, it } from 'vitest';
import type { ConnectionStatus } from '../src/types.js';
import { FRAME_MS, timeoutScheduler } from '../src/scheduler.js';
import { createTestConnection } from '../src/testing/index.js';

function recorder() {
  const renders: Array<{ data: unknown; status: ConnectionStatus }> = [];
  return { renders, view: { render: (data: unknown, status: ConnectionStatus) => renders.push({ data, status }) } };
}

describe('render coalescing', () => {
  it('renders once per frame with the latest data, however many messages came', () => {
    const { renders, view } = recorder();
    const t = createTestConnection({ view });
    t.open();
    t.advance(16);
    renders.length = 0;
    for (let i = 0; i < 5000; i++) t.socket.receive({ type: 'patch', set: { n: i } });
    expect(renders).toHaveLength(0);
    t.advance(16);
    expect(renders).toHaveLength(1);
    expect(renders[0]?.data).toEqual({ n: 4999 });
    expect(t.connection.model.getData()).toEqual({ n: 4999 });
    t.connection.stop();
  });

  it('renders on a state transition so the view can show the retry countdown', () => {
    const { renders, view } = recorder();
    const t = createTestConnection({ view, random: () => 0.5 });
    t.open();
    t.advance(16);
    t.socket.drop();
    t.advance(16);
    expect(renders.at(-1)?.status).toMatchObject({ state: 'errored', nextRetryAt: 16 + 250 });
    t.connection.stop();
  });

  it('counts renders in the status', () => {
    const { view } = recorder();
    const t = createTestConnection({ view });
    t.open();
    t.advance(16);
    t.socket.receive({ type: 'patch', set: { a: 1 } });
    t.advance(16);
    expect(t.connection.getStatus().counters.renders).toBe(2);
    t.connection.stop();
  });

  it('uses the injected scheduler', () => {
    const pending: Array<() => void> = [];
    const { renders, view } = recorder();
    const t = createTestConnection({ view, schedule: (flush) => (pending.push(flush), () => {}) });
    t.open();
    t.socket.receive({ type: 'patch', set: { a: 1 } });
    expect(pending).toHaveLength(1);
    pending.shift()?.();
    expect(renders).toHaveLength(1);
    t.connection.stop();
  });

  it('renders a status-only change (a queued send) and does not loop on its own render count', () => {
    const { renders, view } = recorder();
    const t = createTestConnection({ view });
    t.advance(16);
    const before = renders.length;
    t.connection.send({ queued: true });
    t.advance(16);
    expect(renders).toHaveLength(before + 1);
    expect(renders.at(-1)?.status.outboxSize).toBe(1);
    t.advance(1_000);
    expect(renders).toHaveLength(before + 1);
    t.connection.stop();
  });

  it('reports what a parked machine waits for', () => {
    const t = createTestConnection();
    t.open();
    t.connection.setOnline(false);
    expect(t.connection.getStatus().parked).toBe('offline');
    t.connection.setOnline(true);
    expect(t.connection.getStatus().parked).toBeNull();
    t.connection.stop();
  });

  it('lists the outbox', () => {
    const t = createTestConnection();
    t.connection.send('a');
    expect(t.connection.getOutbox().map((entry) => entry.frame)).toEqual(['a']);
    t.connection.stop();
  });
});

describe('timeoutScheduler', () => {
  /** A timer source that fires a frame-long timer `earlyMs` before its deadline, as Node's can (short ones on time). */
  function earlyClock(earlyMs: number) {
    let time = 0;
    const timers = new Map<number, { at: number; fn: () => void }>();
    let nextId = 1;
    return {
      now: () => time,
      setTimeout(fn: () => void, ms: number) {
        timers.set(nextId, { at: time + (ms > 2 * earlyMs ? ms - earlyMs : ms), fn });
        return nextId++;
      },
      clearTimeout(id: unknown) {
        timers.delete(id as number);
      },
      /** Runs the timers due in the next `ms`, in deadline order. */
      advance(ms: number) {
        const end = time + ms;
        for (;;) {
          const due = [...timers.entries()].filter(([, timer]) => timer.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
          if (due === undefined) break;
          timers.delete(due[0]);
          time = due[1].at;
          due[1].fn();
        }
        time = end;
      },
    };
  }

  it('waits out the rest of the frame when a timer fires early, so renders stay at most 60 a second', () => {
    const clock = earlyClock(1);
    const schedule = timeoutScheduler(undefined, clock);
    const flushes: number[] = [];
    let pending = false;
    // a trickle: one render request per millisecond for a second
    for (let ms = 0; ms < 1000; ms++) {
      if (!pending) {
        pending = true;
        schedule(() => {
          pending = false;
          flushes.push(clock.now());
        });
      }
      clock.advance(1);
    }
    const gaps = flushes.slice(1).map((at, i) => at - flushes[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(FRAME_MS - 1e-9);
    expect(flushes.length).toBeLessThanOrEqual(60);
    expect(flushes.length).toBeGreaterThan(50);
  });

  it('cancels a pending render', () => {
    const clock = earlyClock(0);
    const schedule = timeoutScheduler(10, clock);
    let flushed = 0;
    const cancel = schedule(() => flushed++);
    cancel();
    clock.advance(100);
    expect(flushed).toBe(0);
  });
});
