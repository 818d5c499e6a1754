import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeRetryDelay } from '../src/backoff.js';
import { createTestConnection } from '../src/testing/index.js';

const settings = fc.record({
  initialDelayMs: fc.integer({ min: 0, max: 10_000 }),
  maxDelayMs: fc.integer({ min: 0, max: 120_000 }),
  factor: fc.double({ min: 1, max: 4, noNaN: true }),
  serviceRestartDelayMs: fc.integer({ min: 0, max: 60_000 }),
});
const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('backoff properties', () => {
  it('stays within [0, min(maxDelayMs, initialDelayMs * factor ** n)] for any attempt and random', () => {
    fc.assert(
      fc.property(settings, fc.integer({ min: 0, max: 2000 }), random, (s, attempt, r) => {
        const delay = computeRetryDelay(s, attempt, r);
        const ceiling = s.initialDelayMs === 0 ? 0 : Math.min(s.maxDelayMs, s.initialDelayMs * s.factor ** attempt);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(ceiling);
        expect(Number.isFinite(delay)).toBe(true);
      }),
    );
  });

  it('never goes below serviceRestartDelayMs after 1012 or 1013', () => {
    fc.assert(
      fc.property(settings, fc.integer({ min: 0, max: 50 }), random, fc.constantFrom(1012, 1013), (s, attempt, r, code) => {
        expect(computeRetryDelay(s, attempt, r, code)).toBeGreaterThanOrEqual(s.serviceRestartDelayMs);
      }),
    );
  });

  it('is monotone in the random draw', () => {
    fc.assert(
      fc.property(settings, fc.integer({ min: 0, max: 30 }), random, random, (s, attempt, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        expect(computeRetryDelay(s, attempt, low)).toBeLessThanOrEqual(computeRetryDelay(s, attempt, high));
      }),
    );
  });
});

/** Any frame a peer could send: text (JSON-ish or not) or binary. */
const frame = fc.oneof(
  fc.string({ unit: 'grapheme' }),
  fc.string(),
  fc.json(),
  fc.jsonValue().map((value) => JSON.stringify({ type: 'patch', set: value })),
  fc.jsonValue().map((value) => JSON.stringify({ type: 'snapshot', data: value })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => bytes.slice().buffer as ArrayBuffer),
);

describe('arbitrary inbound frames', () => {
  it('never throw out of the machine, keep it open, and leave the model untouched when rejected', () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 25 }), (frames) => {
        const t = createTestConnection({ maxMessageBytes: 256 });
        t.open();
        for (const data of frames) {
          const before = t.connection.model.getData();
          const rejectedBefore = t.connection.getStatus().counters.rejected;
          expect(() => t.socket.receive(data)).not.toThrow();
          const status = t.connection.getStatus();
          expect(status.state).toBe('open');
          if (status.counters.rejected > rejectedBefore) expect(t.connection.model.getData()).toEqual(before);
        }
        expect(t.connection.getStatus().counters.received).toBe(frames.length);
        t.connection.stop();
      }),
      { numRuns: 300 },
    );
  });
});
