import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { consoleView } from '../../src/views/console.js';
import { formatValue } from '../../src/views/dom.js';
import { previewValue } from '../../src/views/preview.js';
import { modelLine, renderFrame } from '../../scripts/client/terminal-view.js';
import { makeStatus } from '../support/status.js';

/** A value nested `depth` levels deep, built without recursion (JSON.parse is not recursive in V8). */
const deepArray = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);

describe('previewValue', () => {
  it('is JSON.stringify for values within the limits', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const json = JSON.stringify(value);
        fc.pre(json.length <= 200);
        expect(previewValue(value)).toBe(json);
      }),
    );
  });

  it('never returns more than maxLength characters', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 1, max: 80 }), (value, maxLength) => {
        expect(previewValue(value, { maxLength }).length).toBeLessThanOrEqual(maxLength);
      }),
    );
  });

  it.each([
    [{ a: [1, { b: { c: 2 } }] }, { maxDepth: 2 }, '{"a":[1,{…}]}'],
    [{ empty: {}, none: [] }, { maxDepth: 1 }, '{"empty":{},"none":[]}'],
    ['x'.repeat(50), { maxLength: 10 }, '"xxxxxxxx…'],
    [undefined, {}, 'undefined'],
    [{ skip: undefined, f: () => 1, n: Number.NaN }, {}, '{"n":null}'],
    [new Date(0), {}, '"1970-01-01T00:00:00.000Z"'],
  ])('previews %j with %j as %s', (value, limits, expected) => {
    expect(previewValue(value, limits)).toBe(expected);
  });

  it('shows what JSON cannot hold without throwing', () => {
    expect(previewValue([undefined, 10n, Symbol('s')])).toBe('[null,10n,null]');
    expect(previewValue(Symbol('s'))).toBe('Symbol(s)');
  });

  it('cuts a value nested 100,000 levels deep at maxDepth instead of overflowing the stack', () => {
    const deep = deepArray(100_000);
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(previewValue(deep)).toBe('[[[[[[[[[…]]]]]]]]]');
  });

  it('stops early in a huge object', () => {
    const huge = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`key${i}`, i]));
    expect(previewValue(huge, { maxLength: 30 })).toBe('{"key0":0,"key1":1,"key2":2,"…');
  });
});

/** Values no JSON walk can read without throwing: each part that throws is a leaf here. */
const hostileLeaf = fc.constantFrom(
  () => ({ get a() { throw new Error('getter broke'); } }),
  () => ({ toJSON() { throw 'toJSON broke'; } }),
  () => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    return revocable.proxy;
  },
  () => {
    const revocable = Proxy.revocable([1, 2], {});
    revocable.revoke();
    return revocable.proxy;
  },
  () => new Proxy({ a: 1 }, { ownKeys() { throw new Error('ownKeys broke'); } }),
  () => new Proxy([1, 2, 3], { get(target, key) { if (key === '1') throw new Error('get broke'); return Reflect.get(target, key); } }),
  () => new Proxy({ a: 1 }, { getOwnPropertyDescriptor() { throw Symbol('descriptor broke'); } }),
  () => ({ get a() { throw Object.create(null); } }), // its String() throws too
  () => ({ toJSON: () => ({ get b() { throw new Error('after toJSON'); } }) }),
  () => 10n,
  () => Symbol('s'),
  () => () => 1,
  () => new Date(0),
);

/** Arbitrary nesting of JSON, hostile leaves and getters over both (made fresh per run: a revoked Proxy is single-use state). */
const hostileValue = fc.letrec<{ value: () => unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 2 }).map((json) => () => json),
    hostileLeaf,
    fc.array(tie('value'), { maxLength: 4 }).map((items) => () => items.map((make) => make())),
    fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 4 }).map((entries) => () => {
      const record: Record<string, unknown> = {};
      for (const [key, make] of Object.entries(entries)) {
        // half as plain entries, half behind getters
        if (key.length % 2 === 0) record[key] = make();
        else Object.defineProperty(record, key, { enumerable: true, get: make });
      }
      return record;
    }),
  ),
})).value;

describe('previewValue on values that cannot be read', () => {
  it.each<[string, () => unknown, string]>([
    ['a getter that throws', () => ({ ok: 1, get a() { throw new Error('boom'); } }), '{"ok":1,"a":[unreadable: boom]}'],
    ['a toJSON that throws', () => ({ toJSON() { throw 'str'; } }), '[unreadable: str]'],
    ['a revoked Proxy', () => { const r = Proxy.revocable({}, {}); r.revoke(); return [r.proxy]; }, "[[unreadable: Cannot perform 'get' on a proxy that has been revoked]]"],
    ['a Proxy whose keys cannot be listed', () => ({ p: new Proxy({}, { ownKeys() { throw new Error('no keys'); } }) }), '{"p":{[unreadable: no keys]}}'],
    ['an array entry that throws', () => new Proxy([1, 2, 3], { get: (t, k) => { if (k === '1') throw new Error('no 1'); return Reflect.get(t, k); } }), '[1,[unreadable: no 1],3]'],
  ])('shows %s as a marker instead of throwing', (_, make, expected) => {
    expect(previewValue(make(), { maxLength: 1000 })).toBe(expected);
  });

  it('never throws and never exceeds maxLength, whatever the value and limits', () => {
    fc.assert(
      fc.property(hostileValue, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 300 }), (make, maxDepth, maxLength) => {
        const out = previewValue(make(), { maxDepth, maxLength });
        expect(typeof out).toBe('string');
        expect(out.length).toBeLessThanOrEqual(maxLength);
      }),
      { numRuns: 500 },
    );
  });

  it('walks without recursion: a huge maxDepth on a value 100,000 levels deep does not overflow the stack', () => {
    const out = previewValue(deepArray(100_000), { maxDepth: 1e9, maxLength: 300_000 });
    expect(out.length).toBe(200_000);
    expect(out.startsWith('[[[[')).toBe(true);
  });

  it('ends a cyclic value at maxLength', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(previewValue(cyclic, { maxDepth: 1e9, maxLength: 50 })).toHaveLength(50);
  });
});

describe('preview limits', () => {
  it.each([
    [{ maxDepth: -1 }, RangeError, '`limits.maxDepth` must be a whole number from 0; received -1'],
    [{ maxDepth: 1.5 }, RangeError, '`limits.maxDepth` must be a whole number from 0; received 1.5'],
    [{ maxDepth: Number.POSITIVE_INFINITY }, RangeError, '`limits.maxDepth` must be a whole number from 0; received Infinity'],
    [{ maxLength: 0 }, RangeError, '`limits.maxLength` must be a whole number from 1 to 1000000; received 0'],
    [{ maxLength: 1e9 }, RangeError, '`limits.maxLength` must be a whole number from 1 to 1000000; received 1000000000'],
    [{ maxLength: '9' }, TypeError, '`limits.maxLength` must be a number; received string'],
  ])('refuses %j, naming the limit', (limits, type, message) => {
    expect(() => previewValue(1, limits as never)).toThrow(type);
    expect(() => previewValue(1, limits as never)).toThrow(message);
  });

  it("checks consoleView's preview option when the view is made", () => {
    expect(() => consoleView({ preview: { maxDepth: 1e9, maxLength: 1e9 } })).toThrow('`preview.maxLength` must be a whole number from 1 to 1000000');
    expect(() => consoleView({ preview: { maxDepth: -1 } })).toThrow(RangeError);
  });

  it('consoleView shows model data that cannot be read instead of throwing', () => {
    const lines: string[] = [];
    const view = consoleView({ write: (line) => lines.push(line), now: () => 0, dataEveryMs: 0 });
    view.render({ ok: 1, get bad() { throw new Error('boom'); } }, makeStatus());
    expect(lines.at(-1)).toContain('2 keys: ok=1 bad=[unreadable: boom]');
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    view.render(revocable.proxy, makeStatus({ state: 'closed' }));
    expect(lines.at(-1)).toContain("model [unreadable: Cannot perform 'get' on a proxy that has been revoked]");
  });
});

describe('the shipped views with a 100,000-deep value', () => {
  const deep = { deep: deepArray(100_000), ok: 1 };

  it('terminal frame and model line show it truncated', () => {
    const frame = renderFrame({ data: deep, status: makeStatus(), now: 0, columns: 120, rows: 20 });
    expect(frame.some((line) => line.includes('[[[[[[[[[…]]]]]]]]]'))).toBe(true);
    expect(modelLine(deep, makeStatus(), 120)).toContain('deep=[[[[[[[[[…]]]]]]]]]');
    expect(renderFrame({ data: deepArray(100_000), status: makeStatus(), now: 0, columns: 120, rows: 20 }).at(-1)).toBe(
      'model [[[[[[[[[…]]]]]]]]]',
    );
  });

  it('console view shows it truncated', () => {
    const lines: string[] = [];
    consoleView({ write: (line) => lines.push(line), now: () => 0 }).render(deep, makeStatus());
    expect(lines.at(-1)).toContain('deep=[[[[[[[[[…]]]]]]]]] ok=1');
  });

  it('DOM cells show it truncated', () => {
    expect(formatValue(deep.deep as never)).toBe('[[[[[[[[[…]]]]]]]]]');
    expect(formatValue('y'.repeat(5000)).length).toBe(1000);
  });
});
