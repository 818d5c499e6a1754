import { describe, expect, it } from 'vitest';
import { authFailureDelayMs, createAuthThrottle, DEFAULT_AUTH_THROTTLE, type AuthTicket } from '../../src/server/auth-throttle.js';

/** A throttle on a hand-moved clock. */
function throttleAt(options: Parameters<typeof createAuthThrottle>[0] = {}) {
  let now = 1_000_000;
  const throttle = createAuthThrottle(options, () => now);
  return {
    throttle,
    advance: (ms: number) => {
      now += ms;
    },
    /** Admits an attempt and expects it admitted; returns its ticket. */
    admit(address = '203.0.113.1'): AuthTicket {
      const admission = throttle.admit(address);
      if (!admission.admitted) throw new Error(`refused: retry after ${admission.retryAfterMs} ms`);
      return admission.ticket;
    },
  };
}

describe('failed-authentication delay', () => {
  it('doubles from 250 ms after each failure, up to 10 s', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 7, 8, 50, 5000, Number.MAX_SAFE_INTEGER].map((n) => authFailureDelayMs(n));
    expect(delays).toEqual([0, 250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000, 10_000]);
    expect(DEFAULT_AUTH_THROTTLE).toEqual({ baseDelayMs: 250, maxDelayMs: 10_000, freeAttempts: 10, forgetAfterMs: 600_000, maxAddresses: 10_000 });
  });

  it('is 0 for no failures and for nonsense counts', () => {
    expect([0, -1, Number.NaN].map((n) => authFailureDelayMs(n))).toEqual([0, 0, 0]);
  });

  it('takes its own base and cap', () => {
    expect([1, 2, 3, 4].map((n) => authFailureDelayMs(n, { baseDelayMs: 100, maxDelayMs: 300 }))).toEqual([100, 200, 300, 300]);
  });
});

describe('auth throttle', () => {
  it('admits an address without failures at once', () => {
    const { admit } = throttleAt();
    expect([admit().waitMs, admit().waitMs, admit().waitMs]).toEqual([0, 0, 0]);
  });

  it('holds the next attempt after failures, sequential attempts each a growing delay apart', () => {
    const { throttle, admit, advance } = throttleAt();
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const ticket = admit();
      waits.push(ticket.waitMs);
      advance(ticket.waitMs); // the attempt is read after its wait, and fails at once
      throttle.settle(ticket, false);
    }
    expect(waits).toEqual([0, 250, 500, 1000, 2000, 4000]);
    expect(throttle.failures('203.0.113.1')).toBe(6);
  });

  it('queues parallel attempts from one address one after another', () => {
    const { throttle, admit } = throttleAt();
    throttle.settle(admit(), false); // one failure: 250 ms
    // Each admitted attempt is presumed to fail until it is judged: 250, then +500, then +1000.
    expect([admit().waitMs, admit().waitMs, admit().waitMs]).toEqual([250, 750, 1750]);
  });

  it('queues a burst from an address without failures after freeAttempts, and refuses the rest', () => {
    const { throttle } = throttleAt({ freeAttempts: 3 });
    const outcomes = Array.from({ length: 10 }, () => {
      const admission = throttle.admit('203.0.113.1');
      return admission.admitted ? admission.ticket.waitMs : 'refused';
    });
    // 3 free, then each presumed failure doubles the spacing: 0, +250, +500, +1000, +2000, +4000, +8000 > 10 s.
    expect(outcomes).toEqual([0, 0, 0, 0, 250, 750, 1750, 3750, 7750, 'refused']);
  });

  it('refuses an attempt that would wait over maxDelayMs', () => {
    const { throttle, admit } = throttleAt({ baseDelayMs: 100, maxDelayMs: 150 });
    throttle.settle(admit(), false);
    expect(admit().waitMs).toBe(100);
    expect(throttle.admit('203.0.113.1')).toEqual({ admitted: false, retryAfterMs: 250 }) // 100, then min(150, 200);
  });

  it('keeps addresses apart', () => {
    const { throttle, admit } = throttleAt();
    throttle.settle(admit('203.0.113.1'), false);
    expect(admit('203.0.113.2').waitMs).toBe(0);
    expect(admit('203.0.113.1').waitMs).toBe(250);
  });

  it('does not count a success or a connection closed before its token was judged as a failure', () => {
    const { throttle, admit } = throttleAt();
    throttle.settle(admit(), true);
    throttle.settle(admit(), null);
    expect(throttle.failures('203.0.113.1')).toBe(0);
    expect(throttle.size).toBe(0);
  });

  it('reads every later attempt at once after a success, once the wait after the failure has passed (docs/cli.md)', () => {
    const { throttle, admit, advance } = throttleAt();
    throttle.settle(admit(), false); // one failure: the next is not read before 250 ms
    advance(3_000);
    const good = admit();
    expect(good.waitMs).toBe(0); // arrives later than the delay: read at once
    throttle.settle(good, true);
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      const ticket = admit();
      waits.push(ticket.waitMs);
      throttle.settle(ticket, true);
    }
    expect(waits).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // the failure is still on record (a success buys no fresh budget), until forgetAfterMs after it
    expect(throttle.failures('203.0.113.1')).toBe(1);
    advance(DEFAULT_AUTH_THROTTLE.forgetAfterMs);
    expect(throttle.failures('203.0.113.1')).toBe(0);
    expect(throttle.size).toBe(0);
  });

  it('gives a guesser nothing for interleaving a valid token with its guesses, one at a time', () => {
    const { throttle, admit, advance } = throttleAt();
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      for (const ok of [false, true]) {
        const ticket = admit();
        waits.push(ticket.waitMs);
        advance(ticket.waitMs);
        throttle.settle(ticket, ok);
      }
    }
    // guess, token, guess, token, …: whichever comes first after a failure waits the doubling
    // delay, so the guesses are as far apart as without the token (250 · 2^(n−1) ms after the n-th)
    expect(waits).toEqual([0, 250, 0, 500, 0, 1000, 0, 2000, 0, 4000, 0, 8000]);
    expect(throttle.failures('203.0.113.1')).toBe(6);
  });

  it('gives a guesser no fresh burst for a valid token sent in parallel with its guesses', () => {
    const { throttle, admit } = throttleAt();
    // a fresh address: 9 guesses and the right token, in parallel (freeAttempts 10, so none queued)
    const guesses = Array.from({ length: 9 }, () => admit());
    const good = admit();
    expect([...guesses, good].map((t) => t.waitMs)).toEqual(Array(10).fill(0));
    for (const guess of guesses) throttle.settle(guess, false);
    throttle.settle(good, true);
    // the next burst queues behind 9 failures: the first waits min(250 · 2^8, 10 s), the second would wait longer
    expect(admit().waitMs).toBe(10_000);
    expect(throttle.admit('203.0.113.1').admitted).toBe(false);
  });

  it('gives back the slot of an attempt closed before it was judged, keeping the failures', () => {
    const { throttle, admit, advance } = throttleAt();
    throttle.settle(admit(), false);
    advance(1_000);
    throttle.settle(admit(), null);
    expect(throttle.failures('203.0.113.1')).toBe(1);
    expect(admit().waitMs).toBe(0);
  });

  it('queues the right token too, and keeps the failures after it', () => {
    const { throttle, admit } = throttleAt({ freeAttempts: 1 });
    throttle.settle(admit(), false); // 250 ms
    const first = admit();
    const second = admit();
    // parallel attempts wait their turn, each as if failing: the right token cannot skip the queue
    expect([first.waitMs, second.waitMs]).toEqual([250, 750]);
    throttle.settle(first, true);
    expect(throttle.failures('203.0.113.1')).toBe(1);
    // the second still counts in flight: a new one queues behind it
    expect(admit().waitMs).toBe(1_750);
  });

  it('settles a ticket once', () => {
    const { throttle, admit } = throttleAt();
    const ticket = admit();
    throttle.settle(ticket, false);
    throttle.settle(ticket, false);
    expect(throttle.failures('203.0.113.1')).toBe(1);
  });

  it('forgets an address forgetAfterMs after its last failure', () => {
    const { throttle, admit, advance } = throttleAt({ forgetAfterMs: 60_000 });
    throttle.settle(admit(), false);
    advance(59_999);
    expect(throttle.failures('203.0.113.1')).toBe(1);
    advance(1);
    expect(throttle.failures('203.0.113.1')).toBe(0);
    expect(throttle.size).toBe(0);
    expect(admit().waitMs).toBe(0);
  });

  it('remembers at most maxAddresses, forgetting the least recently failed first', () => {
    const { throttle, admit } = throttleAt({ maxAddresses: 3 });
    for (const address of ['a', 'b', 'c']) throttle.settle(admit(address), false);
    throttle.settle(admit('a'), false); // a failed again: b is now the oldest
    throttle.settle(admit('d'), false);
    expect(throttle.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((address) => throttle.failures(address))).toEqual([2, 0, 1, 1]);
  });

  it('stays bounded under failures from 100,000 addresses', () => {
    const { throttle, admit } = throttleAt({ maxAddresses: 1000 });
    for (let i = 0; i < 100_000; i++) throttle.settle(admit(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`), false);
    expect(throttle.size).toBe(1000);
  });
});
