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
