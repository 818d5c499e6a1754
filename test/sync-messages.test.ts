import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDataFrame, parseServerFrame, patchFrame, serverFrame, snapshotFrame } from '../src/sync/messages.js';

/** Values near the shape of a data frame, valid and not: every field either right, wrong or missing. */
const near = fc.record(
  {
    type: fc.constantFrom('patch', 'snapshot', 'ack', 'pong', 'Patch', 7),
    epoch: fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null)),
    seq: fc.oneof(fc.integer({ min: -3, max: 1e6 }), fc.double(), fc.constant('3'), fc.constant(Number.MAX_SAFE_INTEGER + 2)),
    set: fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue(), { maxKeys: 3 }), fc.array(fc.integer()), fc.constant(null), fc.string()),
    delete: fc.oneof(fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }), fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 }), fc.string()),
    data: fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue(), { maxKeys: 3 }), fc.array(fc.integer()), fc.constant(null)),
    extra: fc.jsonValue(),
  },
  { requiredKeys: [] },
);

describe('sync frames', () => {
  it('accepts by hand exactly the snapshots and patches the schemas accept', () => {
    fc.assert(
      fc.property(fc.oneof(near, fc.jsonValue()), (value) => {
        const schema = snapshotFrame.safeParse(value).success || patchFrame.safeParse(value).success;
        expect(isDataFrame(value)).toBe(schema);
      }),
      { numRuns: 5_000 },
    );
  });

  it('checks JSON text the same way, parsed as the client parses it', () => {
    fc.assert(
      fc.property(near, (value) => {
        const parsed = JSON.parse(JSON.stringify(value)) as unknown;
        expect(parseServerFrame(parsed).ok).toBe(serverFrame.safeParse(parsed).success);
      }),
      { numRuns: 2_000 },
    );
  });

  it('says what is wrong with a frame it refuses', () => {
    expect(parseServerFrame({ type: 'patch', epoch: 'e', seq: -1 })).toEqual({
      ok: false,
      problem: expect.stringMatching(/seq/),
    });
    expect(parseServerFrame({ type: 'patch', epoch: 'e', seq: 1, delete: [1] })).toMatchObject({ ok: false });
  });
});
