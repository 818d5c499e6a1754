import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClock } from '../src/clock.js';
import { TestClock } from '../src/testing/index.js';
import { BrokenClock } from './support/broken-clock.js';
import { failureRecorder } from './support/failures.js';

/** A failure reporter that keeps what it was told, and a hook around each fire that records it. */
function harness() {
  const fires: string[] = [];
  const around = (fire: () => void) => {
    fires.push('before');
    fire();
    fires.push('after');
  };
  return { ...failureRecorder(), fires, around };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the connection clock', () => {
  it("runs timers on the host's setTimeout when no clock is given", () => {
    vi.useFakeTimers();
    const h = harness();
    const clock = createClock(undefined, h.failed, h.around);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('a'), 100);
    const b = clock.setTimeout(() => fired.push('b'), 100);
    clock.clearTimeout(b);
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a']);
    expect(h.fires).toEqual(['before', 'after']);
    expect(h.failures).toEqual([]);
  });

  it('runs timers on the given clock, each fire inside the hook', () => {
    const h = harness();
    const test = new TestClock();
    const clock = createClock(test, h.failed, (fire) => {
      h.fires.push(`before at ${test.now()}`);
      fire();
    });
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(test.now()), 50);
    const cleared = clock.setTimeout(() => fired.push(-1), 70);
    clock.setTimeout(() => fired.push(test.now()), 200);
    expect(test.pendingTimers).toBe(3);
    clock.clearTimeout(cleared);
    expect(test.pendingTimers).toBe(2);
    test.advance(200);
    expect(fired).toEqual([50, 200]);
    expect(h.fires).toEqual(['before at 50', 'before at 200']);
    expect(h.failures).toEqual([]);
  });

  /** A clock option whose setTimeout throws, and one timer scheduled through it (the host's setTimeout took it). */
  function timerTheClockRefused() {
    vi.useFakeTimers();
    const h = harness();
    const broken = new BrokenClock();
    broken.armed = true;
    const clock = createClock(broken, h.failed, h.around);
    const fired: string[] = [];
    const token = clock.setTimeout(() => fired.push('fallback'), 30);
    return { ...h, broken, clock, fired, token };
  }

  it("falls back to the host's setTimeout when the clock's throws, and reports ERR_POLICY_FAILED", () => {
    const t = timerTheClockRefused();
    expect(t.failures).toEqual([
      { code: 'ERR_POLICY_FAILED', message: "clock.setTimeout threw: clock refused; the host's setTimeout was used" },
    ]);
    expect(t.broken.pendingTimers).toBe(0);
    vi.advanceTimersByTime(30);
    expect(t.fired).toEqual(['fallback']);
    expect(t.fires).toEqual(['before', 'after']);
  });

  it('clears a timer the host took over on the host, whatever the clock does', () => {
    const t = timerTheClockRefused();
    t.clock.clearTimeout(t.token);
    vi.advanceTimersByTime(1_000);
    expect(t.fired).toEqual([]);
    // only the refused setTimeout is reported: the clear never reached the clock
    expect(t.failures).toHaveLength(1);
  });

  it("reports a clock's clearTimeout that throws, and does not throw itself", () => {
    const h = harness();
    const broken = new BrokenClock();
    const clock = createClock(broken, h.failed, h.around);
    const fired: string[] = [];
    const id = clock.setTimeout(() => fired.push('late'), 10);
    broken.armed = true;
    expect(() => clock.clearTimeout(id)).not.toThrow();
    expect(h.failures).toEqual([{ code: 'ERR_POLICY_FAILED', message: 'clock.clearTimeout threw: clock cannot clear' }]);
    // the timer was not cleared: it may still fire (the machine ignores a delayed event for a state it has left)
    broken.advance(10);
    expect(fired).toEqual(['late']);
  });
});
