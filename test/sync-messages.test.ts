import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_OP_ID_LENGTH, isPatchFrame, parseClientFrame, parseServerFrame, parseServerFrameByTable, type Parsed } from '../src/sync/messages.js';

/**
 * The reference description of the frames (docs/protocol-v1.md), written apart
 * from the validators: for every field, values it may hold and values it must
 * not. The validators are held to it by generating valid frames and mutating
 * one field at a time.
 */
interface FieldSpec {
  valid: fc.Arbitrary<unknown>;
  invalid: fc.Arbitrary<unknown>;
  optional?: true;
}
type FrameSpec = Record<string, FieldSpec>;

const jsonRecord = fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
const notString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), jsonRecord);
const notNumber = fc.oneof(fc.string({ maxLength: 3 }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }), jsonRecord);
const seq = { valid: fc.nat(), invalid: fc.oneof(notNumber, fc.integer({ max: -1 }), fc.double({ noInteger: true, noNaN: true }), fc.constant(Number.MAX_SAFE_INTEGER + 2)) };
const str = { valid: fc.string({ maxLength: 6 }), invalid: notString };
const record = { valid: jsonRecord, invalid: fc.oneof(fc.array(fc.integer(), { maxLength: 2 }), fc.string({ maxLength: 3 }), fc.integer(), fc.constant(null), fc.boolean()) };
const changes: FrameSpec = {
  set: { ...record, optional: true },
  delete: {
    valid: fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
    invalid: fc.oneof(fc.string({ maxLength: 3 }), jsonRecord, fc.integer(), fc.constant(null), fc.tuple(fc.string(), fc.oneof(fc.integer(), fc.constant(null)))),
    optional: true,
  },
};

const SERVER: Record<string, FrameSpec> = {
  snapshot: { epoch: str, seq, data: record },
  patch: { epoch: str, seq, ...changes },
  ack: { id: str },
  pong: {},
  error: { code: str, message: str, id: { ...str, optional: true } },
};
const CLIENT: Record<string, FrameSpec> = {
  hello: {
    v: { valid: fc.integer(), invalid: notNumber },
    epoch: { ...str, optional: true },
    since: { ...seq, optional: true },
    token: { ...str, optional: true },
  },
  op: {
    id: {
      valid: fc.string({ minLength: 1, maxLength: MAX_OP_ID_LENGTH }),
      invalid: fc.oneof(notString, fc.constant(''), fc.string({ minLength: MAX_OP_ID_LENGTH + 1, maxLength: MAX_OP_ID_LENGTH + 4 })),
    },
    ...changes,
  },
  ping: {},
};

/** A valid frame of `type`: every required field, each optional one present or not, and maybe a field no one knows. */
function validFrame(type: string, spec: FrameSpec): fc.Arbitrary<Record<string, unknown>> {
  const fields = Object.fromEntries(Object.entries(spec).map(([key, field]) => [key, field.valid]));
  const requiredKeys = Object.entries(spec).filter(([, field]) => field.optional !== true).map(([key]) => key);
  return fc
    .tuple(fc.record(fields, { requiredKeys }), fc.option(fc.jsonValue({ maxDepth: 1 }), { nil: undefined }))
    .map(([frame, extra]) => ({ type, ...frame, ...(extra === undefined ? {} : { extra }) }));
}

/** A valid frame with exactly one field made wrong (a required one may also go missing), and that field's name. */
function mutatedFrame(type: string, spec: FrameSpec): fc.Arbitrary<{ frame: Record<string, unknown>; field: string }> | null {
  const keys = Object.keys(spec);
  if (keys.length === 0) return null;
  return fc.tuple(validFrame(type, spec), fc.constantFrom(...keys)).chain(([frame, key]) => {
    const field = spec[key] as FieldSpec;
    const wrong = field.optional === true ? field.invalid : fc.oneof(field.invalid, fc.constant(undefined));
    return wrong.map((value) => {
      const mutated: Record<string, unknown> = { ...frame };
      if (value === undefined) delete mutated[key];
      else mutated[key] = value;
      return { frame: mutated, field: `${type}.${key}` };
    });
  });
}

const sides = [
  { side: 'server → client', parse: parseServerFrame as (value: unknown) => Parsed<unknown>, frames: SERVER },
  { side: 'client → server', parse: parseClientFrame as (value: unknown) => Parsed<unknown>, frames: CLIENT },
];

describe.each(sides)('sync frames, $side', ({ parse, frames }) => {
  const valid = fc.oneof(...Object.entries(frames).map(([type, spec]) => validFrame(type, spec)));
  const mutated = fc.oneof(
    ...Object.entries(frames)
      .map(([type, spec]) => mutatedFrame(type, spec))
      .filter((arbitrary) => arbitrary !== null),
  );

  it('accepts every valid frame, as it is (no copy)', () => {
    fc.assert(
      fc.property(valid, (frame) => {
        const parsed = JSON.parse(JSON.stringify(frame)) as unknown;
        const result = parse(parsed);
        expect(result).toEqual({ ok: true, frame: parsed });
        expect(result.ok && result.frame).toBe(parsed);
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses a frame with one field wrong, naming that field', () => {
    fc.assert(
      fc.property(mutated, ({ frame, field }) => {
        const result = parse(JSON.parse(JSON.stringify(frame)));
        expect(result.ok).toBe(false);
        expect(!result.ok && result.problem).toContain(`${field}: expected `);
      }),
      { numRuns: 3_000 },
    );
  });

  it('refuses a frame of a type it does not know, naming the types it knows', () => {
    const known = Object.keys(frames);
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.constant(null), fc.constant(undefined)).filter((type) => !known.includes(type as string)),
        jsonRecord,
        (type, rest) => {
          const result = parse({ ...rest, type });
          expect(result.ok).toBe(false);
          expect(!result.ok && result.problem).toMatch(new RegExp(`^type: expected one of ${known.map((name) => `"${name}"`).join(', ')}, received `));
        },
      ),
    );
  });

  it('refuses what is not an object', () => {
    for (const value of [null, 1, 'snapshot', [], [{ type: 'pong' }], true]) {
      expect(parse(value)).toMatchObject({ ok: false, problem: expect.stringMatching(/^expected a (server|client) frame \(an object with a "type"\), received /) });
    }
  });
});

describe('the patch read field by field', () => {
  // parseServerFrame and the protocol's decode check a patch with direct reads (it comes by the thousand); the table is the rule
  const value = fc.oneof(
    fc.constantFrom(undefined, null, true, 0, -1, 1, 1.5, 2 ** 53, Number.NaN, '', 'a', '__proto__'),
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.constantFrom({}, { x: 1 }, [], ['a'], ['a', 1], [1], Object.create(null) as object),
  );
  const patch = fc.record(
    { type: fc.constantFrom('patch', 'patch', 'patch', 'snapshot', 'Patch'), epoch: value, seq: value, set: value, delete: value, extra: value },
    { requiredKeys: ['type'] },
  );

  it('accepts and refuses exactly the patches the table does, through JSON and not', () => {
    fc.assert(
      fc.property(patch, (frame) => {
        for (const candidate of [frame, JSON.parse(JSON.stringify(frame)) as unknown]) {
          const table = parseServerFrameByTable(candidate);
          expect(isPatchFrame(candidate)).toBe(table.ok && table.frame.type === 'patch');
          expect(parseServerFrame(candidate)).toEqual(table);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('sync frame problems', () => {
  it('say which field is wrong, what was expected and what arrived', () => {
    expect(parseServerFrame({ type: 'patch', epoch: 'e', seq: -1 })).toEqual({
      ok: false,
      problem: 'patch.seq: expected a whole number >= 0, received the number -1',
    });
    expect(parseServerFrame({ type: 'patch', epoch: 'e', seq: 1, delete: ['a', 1] })).toEqual({
      ok: false,
      problem: 'patch.delete: expected an array of strings, received an array whose [1] is the number 1',
    });
    expect(parseClientFrame({ type: 'hello' })).toEqual({ ok: false, problem: 'hello.v: expected a number, received nothing (the field is missing)' });
  });

  it('lists every wrong field of a frame', () => {
    expect(parseServerFrame({ type: 'snapshot', epoch: 1, seq: '2' })).toEqual({
      ok: false,
      problem:
        'snapshot.epoch: expected a string, received the number 1; snapshot.seq: expected a whole number >= 0, received the string "2"; ' +
        'snapshot.data: expected an object of keys to JSON values, received nothing (the field is missing)',
    });
  });
});
