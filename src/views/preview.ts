/**
 * `previewValue`: JSON-like text for a value of any size or depth, cut to a
 * budget. The shipped views show the model with it instead of
 * `JSON.stringify`, which walks the whole value: a 200 KB value nested 100,000
 * levels deep threw `RangeError: Maximum call stack size exceeded` inside
 * `view.render` (issue 11, item 8), and a large one cost a full walk per frame.
 * Here the walk stops at `maxDepth` levels and once `maxLength` characters are
 * written, so a render costs at most about `maxLength` work. It keeps its own
 * stack (no recursion, so any `maxDepth` is safe) and never throws on the
 * value: model data may be anything a user's getData returns, getters and
 * Proxies included (issue 11 review, finding a9).
 */

import { describeThrown } from '../errors.js';

export interface PreviewLimits {
  /**
   * Levels shown; deeper arrays and objects print as `[…]` and `{…}`. A whole
   * number from 0; any depth is safe (the walk keeps no call stack).
   * @default 8
   */
  maxDepth?: number;
  /**
   * Characters returned at most; a longer text ends with `…`. A whole number
   * from 1 to 1,000,000.
   * @default 200
   */
  maxLength?: number;
}

export const DEFAULT_PREVIEW_LIMITS = { maxDepth: 8, maxLength: 200 } as const;

/**
 * The largest `maxLength`: a cyclic value previews until the text is full, and
 * a string of a billion characters is past what V8 can build.
 */
export const MAX_PREVIEW_LENGTH = 1_000_000;

/** Characters of a thrown value's message shown in an `[unreadable: …]` marker. */
const REASON_CHARACTERS = 80;

/**
 * The limits with their defaults filled in.
 * @throws TypeError when a limit is not a number, RangeError when it is out of range; both name the limit
 */
export function resolvePreviewLimits(limits: PreviewLimits = {}, name = 'preview'): Required<PreviewLimits> {
  if (limits === null || typeof limits !== 'object') {
    throw new TypeError(`statesocket: \`${name}\` must be an object of preview limits; received ${limits === null ? 'null' : typeof limits}`);
  }
  const whole = (key: keyof PreviewLimits, min: number, max: number): number => {
    const value: unknown = limits[key];
    if (value === undefined) return DEFAULT_PREVIEW_LIMITS[key];
    if (typeof value !== 'number') throw new TypeError(`statesocket: \`${name}.${key}\` must be a number; received ${typeof value}`);
    if (!Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `from ${min}` : `from ${min} to ${max}`;
      throw new RangeError(`statesocket: \`${name}.${key}\` must be a whole number ${range}; received ${value}`);
    }
    return value;
  };
  return { maxDepth: whole('maxDepth', 0, Number.MAX_SAFE_INTEGER), maxLength: whole('maxLength', 1, MAX_PREVIEW_LENGTH) };
}

/** How a part that cannot be read prints: `[unreadable: <reason>]`. */
export function unreadableMarker(error: unknown): string {
  return `[unreadable: ${describeThrown(error).slice(0, REASON_CHARACTERS)}]`;
}

/** An array or object whose entries are being written. */
type Open =
  | { kind: 'array'; items: readonly unknown[]; length: number; index: number; depth: number }
  | { kind: 'object'; keys: Iterator<string>; record: Record<string, unknown>; first: boolean; depth: number };

/** Own enumerable keys, one at a time: a huge object is not listed whole when the preview stops early. */
function* ownKeys(record: Record<string, unknown>): Generator<string> {
  for (const key in record) if (Object.hasOwn(record, key)) yield key;
}

/**
 * The value as JSON text, cut at `maxDepth` levels and `maxLength` characters.
 * Equal to `JSON.stringify(value)` when that fits the limits; `undefined`,
 * functions, symbols and bigints print as their `String()`.
 *
 * Never throws on the value: whatever cannot be read (a getter or `toJSON`
 * that throws, a revoked Proxy) prints as `[unreadable: <reason>]`, and the
 * walk keeps its own stack, so no depth overflows the call stack.
 *
 * @throws TypeError or RangeError only for invalid `limits` (see `resolvePreviewLimits`)
 * @example
 * previewValue({ a: [1, { b: { c: 2 } }] }, { maxDepth: 2 }) // '{"a":[1,{…}]}'
 * previewValue({ get a() { throw new Error('boom'); } }) // '{"a":[unreadable: boom]}'
 */
export function previewValue(value: unknown, limits: PreviewLimits = {}): string {
  const { maxDepth, maxLength } = resolvePreviewLimits(limits, 'limits');
  let out = '';
  const full = () => out.length > maxLength;
  const stack: Open[] = [];
  const unreadable = (error: unknown) => {
    out += unreadableMarker(error);
  };

  /** Writes a value, or opens an array or object (its entries are written by the loop below). */
  const visit = (start: unknown, depth: number, inContainer: boolean): void => {
    let item = start;
    try {
      // like JSON.stringify: toJSON is called once, and its result is shown as it is
      if (item !== null && (typeof item === 'object' || typeof item === 'function')) {
        const toJSON = (item as { toJSON?: unknown }).toJSON;
        if (typeof toJSON === 'function') item = (toJSON as (key: string) => unknown).call(item, '');
      }
      switch (typeof item) {
        case 'string':
          // only as much of a long string as can still be shown
          out += JSON.stringify(item.length > maxLength ? item.slice(0, maxLength) : item);
          return;
        case 'number':
          out += Number.isFinite(item) ? String(item) : 'null';
          return;
        case 'boolean':
          out += String(item);
          return;
        case 'undefined':
        case 'function':
        case 'symbol':
          out += inContainer ? 'null' : typeof item === 'symbol' ? item.toString() : typeof item === 'function' ? 'function' : 'undefined';
          return;
        case 'bigint':
          out += `${item}n`;
          return;
      }
      if (item === null) {
        out += 'null';
        return;
      }
      if (Array.isArray(item)) {
        const length = item.length;
        if (depth >= maxDepth) {
          out += length === 0 ? '[]' : '[…]';
          return;
        }
        out += '[';
        stack.push({ kind: 'array', items: item, length, index: 0, depth });
        return;
      }
      const record = item as Record<string, unknown>;
      const keys = ownKeys(record);
      if (depth >= maxDepth) {
        out += keys.next().done === true ? '{}' : '{…}';
        return;
      }
      out += '{';
      stack.push({ kind: 'object', keys, record, first: true, depth });
    } catch (error) {
      unreadable(error);
    }
  };

  visit(value, 0, false);
  while (stack.length > 0 && !full()) {
    const open = stack[stack.length - 1]!;
    if (open.kind === 'array') {
      if (open.index >= open.length) {
        out += ']';
        stack.pop();
        continue;
      }
      if (open.index > 0) out += ',';
      const index = open.index++;
      let entry: unknown;
      try {
        entry = open.items[index];
      } catch (error) {
        unreadable(error);
        continue;
      }
      visit(entry, open.depth + 1, true);
      continue;
    }
    let key: string;
    try {
      const next = open.keys.next();
      if (next.done === true) {
        out += '}';
        stack.pop();
        continue;
      }
      key = next.value;
    } catch (error) {
      // the keys cannot be listed (a Proxy's ownKeys trap threw): the object ends here
      if (!open.first) out += ',';
      unreadable(error);
      out += '}';
      stack.pop();
      continue;
    }
    let entry: unknown;
    let failure: { error: unknown } | null = null;
    try {
      entry = open.record[key];
    } catch (error) {
      failure = { error };
    }
    if (failure === null && (entry === undefined || typeof entry === 'function' || typeof entry === 'symbol')) continue;
    if (!open.first) out += ',';
    open.first = false;
    out += `${JSON.stringify(key.length > maxLength ? key.slice(0, maxLength) : key)}:`;
    if (failure !== null) unreadable(failure.error);
    else visit(entry, open.depth + 1, true);
  }
  return out.length > maxLength ? `${out.slice(0, maxLength - 1)}…` : out;
}

/** Milliseconds as a rounded countdown: `0.4 s`, `2.5 s`, `12 s`. */
export function formatCountdown(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}
