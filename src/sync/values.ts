/**
 * The one rule for the values a change may carry, checked by the server for
 * client ops, for `POST /control/change`, for its own feed and for the
 * simulator (they all go through `checkChanges`). A change is refused whole,
 * before anything is applied, when:
 *
 * - it is not `{set?: {key: JSON value}, delete?: [key]}`, or changes no key;
 * - a key (at any depth) is `__proto__`: `JSON.parse` makes it an own key, but
 *   an object literal, `Object.assign` or a schema copy turns it into the
 *   prototype, so the two sides would disagree on the data;
 * - a number is not finite (`1e400` parses to `Infinity`, which JSON sends as `null`);
 * - something is not JSON at all (`undefined`, a function, a `Date`, ...);
 * - a value nests deeper than `maxValueDepth` arrays/objects;
 * - its JSON is larger than `maxOpBytes`.
 *
 * The walk is iterative (an explicit stack), so no value can overflow the call
 * stack here, and it stops as soon as a limit is passed, so a hostile value
 * costs at most `maxOpBytes` of work. It also measures each set entry's JSON
 * size, which the server uses to keep the document's total size without
 * stringifying it. Imports neither `ws` nor `node:*`.
 */
import type { Json } from '../store.js';
import type { Changes } from './messages.js';
import { SCAN_FROM_UNITS } from '../frames.js';

export interface ValueLimits {
  /** Arrays/objects a value may nest: `1` has depth 0, `{"a":[1]}` depth 2. */
  maxValueDepth: number;
  /** UTF-8 bytes of a change's JSON: its `set` object plus its `delete` array. */
  maxOpBytes: number;
}

/** The defaults of `ValueLimits` (the server's `--max-value-depth` and `--max-op-bytes`). */
export const DEFAULT_VALUE_LIMITS: Readonly<ValueLimits> = {
  maxValueDepth: 64,
  maxOpBytes: 262_144,
};

/** The limits a client checks an op against before it is queued: the server's default depth; size is left to `maxMessageBytes`. */
export const CLIENT_VALUE_LIMITS: ValueLimits = { maxValueDepth: DEFAULT_VALUE_LIMITS.maxValueDepth, maxOpBytes: Number.MAX_SAFE_INTEGER };

export type CheckedChanges =
  | {
      ok: true;
      changes: Changes;
      /** Per set key, the UTF-8 bytes of its `"key":value` entry in the document's JSON. */
      entryBytes: Map<string, number>;
      /** UTF-8 bytes of the change's JSON (`set` plus `delete`), at most `maxOpBytes`. */
      bytes: number;
    }
  | { ok: false; problem: string };

/** A UTF-16 unit that `JSON.stringify` escapes (controls, `"`, a backslash) or that is not one byte in UTF-8. */
const NOT_PLAIN = /[\x00-\x1f"\\\x80-\uffff]/;

/** UTF-8 bytes of `JSON.stringify(text)`: the quotes, the escapes, and the characters. */
export function jsonStringBytes(text: string): number {
  // Plain ASCII (most keys and values): one native scan, not a JS loop per unit (frames.ts, `SCAN_FROM_UNITS`).
  if (text.length >= SCAN_FROM_UNITS && !NOT_PLAIN.test(text)) return text.length + 2;
  let bytes = 2;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x20) bytes += unit === 8 || unit === 9 || unit === 10 || unit === 12 || unit === 13 ? 2 : 6;
    else if (unit === 0x22 || unit === 0x5c) bytes += 2;
    else if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 6; // a lone surrogate is written as \udxxx
    } else if (unit >= 0xdc00 && unit <= 0xdfff) bytes += 6;
    else bytes += 3;
  }
  return bytes;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return isPlainObject(value) ? 'an object' : `a ${value.constructor?.name ?? 'non-plain object'}`;
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}

const FORBIDDEN_KEY = '__proto__';

/** A value on the walk's stack: itself, the containers around it, its key, and its parent (for error paths only). */
type Node = [value: unknown, depth: number, key: string | number, parent: Node | null];

/** Where a node is, such as `set."a"[0]`: built only for an error message. */
function pathOf(node: Node, root: string): string {
  let text = '';
  for (let at: Node | null = node; at !== null; at = at[3]) {
    const key = at[2];
    text = (typeof key === 'number' ? `[${key}]` : `.${JSON.stringify(key)}`) + text;
  }
  return root + text;
}

/**
 * UTF-8 bytes of one value's JSON, walking it iteratively under the limits.
 * Returns the size, or a problem naming where the value breaks the rule.
 * `budget` is what is left of `maxOpBytes`; the walk stops once it is spent
 * (and returns a size over the budget).
 */
function measureValue(root: unknown, where: 'set' | 'data', key: string, limits: ValueLimits, budget: number): number | string {
  let bytes = 0;
  const stack: Node[] = [[root, 0, key, null]];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    const [value, depth] = node;
    switch (typeof value) {
      case 'string':
        bytes += jsonStringBytes(value);
        break;
      case 'number':
        if (!Number.isFinite(value)) {
          return `${pathOf(node, where)} is ${value}: numbers must be finite (a literal such as 1e400 overflows to Infinity, which JSON cannot carry)`;
        }
        bytes += String(value).length;
        break;
      case 'boolean':
        bytes += value ? 4 : 5;
        break;
      case 'object': {
        if (value === null) {
          bytes += 4;
          break;
        }
        if (depth >= limits.maxValueDepth) {
          return `${pathOf(node, where)} nests deeper than maxValueDepth (${limits.maxValueDepth} arrays/objects)`;
        }
        if (Array.isArray(value)) {
          bytes += value.length === 0 ? 2 : 1 + value.length; // brackets and commas
          for (let i = value.length - 1; i >= 0 && bytes <= budget; i--) stack.push([value[i], depth + 1, i, node]);
          break;
        }
        if (!isPlainObject(value)) return `${pathOf(node, where)} is ${kindOf(value)}, not a JSON value`;
        const keys = Object.keys(value);
        bytes += keys.length === 0 ? 2 : 1 + keys.length; // braces and commas
        for (let i = keys.length - 1; i >= 0 && bytes <= budget; i--) {
          const key = keys[i] as string;
          if (key === FORBIDDEN_KEY) return `${pathOf([undefined, 0, key, node], where)}: the key "__proto__" is not allowed`;
          bytes += jsonStringBytes(key) + 1;
          stack.push([(value as Record<string, unknown>)[key], depth + 1, key, node]);
        }
        break;
      }
      default:
        return `${pathOf(node, where)} is ${kindOf(value)}, not a JSON value`;
    }
    if (bytes > budget) return bytes;
  }
  return bytes;
}

function tooLarge(limits: ValueLimits): string {
  return `the change is over maxOpBytes (${limits.maxOpBytes} bytes of JSON in set and delete); split it into smaller ops`;
}

/**
 * Checks a change (`{set?, delete?}`, as parsed from JSON or built by code)
 * against the value rule and the limits; never throws, never recurses.
 */
export function checkChanges(input: unknown, limits: ValueLimits = DEFAULT_VALUE_LIMITS): CheckedChanges {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, problem: `a change must be an object {set?, delete?}; received ${kindOf(input)}` };
  }
  const { set, delete: deleted } = input as { set?: unknown; delete?: unknown };
  const changes: Changes = {};
  const entryBytes = new Map<string, number>();
  let bytes = 0;
  let keyCount = 0;

  if (deleted !== undefined) {
    if (!Array.isArray(deleted)) return { ok: false, problem: `delete must be an array of keys; received ${kindOf(deleted)}` };
    bytes += deleted.length === 0 ? 2 : 1 + deleted.length;
    for (let i = 0; i < deleted.length; i++) {
      const key: unknown = deleted[i];
      if (typeof key !== 'string') return { ok: false, problem: `delete[${i}] is ${kindOf(key)}; keys are strings` };
      if (key === FORBIDDEN_KEY) return { ok: false, problem: `delete[${i}]: the key "__proto__" is not allowed` };
      bytes += jsonStringBytes(key);
      if (bytes > limits.maxOpBytes) return { ok: false, problem: tooLarge(limits) };
    }
    keyCount += deleted.length;
    changes.delete = deleted as string[];
  }

  if (set !== undefined) {
    if (typeof set !== 'object' || set === null || Array.isArray(set) || !isPlainObject(set)) {
      return { ok: false, problem: `set must be an object of key → JSON value; received ${kindOf(set)}` };
    }
    const keys = Object.keys(set);
    bytes += keys.length === 0 ? 2 : 1 + keys.length;
    for (const key of keys) {
      if (key === FORBIDDEN_KEY) return { ok: false, problem: 'set."__proto__": the key "__proto__" is not allowed' };
      const entry = jsonStringBytes(key) + 1;
      const measured = measureValue((set as Record<string, unknown>)[key], 'set', key, limits, limits.maxOpBytes - bytes - entry);
      if (typeof measured === 'string') return { ok: false, problem: measured };
      bytes += entry + measured;
      if (bytes > limits.maxOpBytes) return { ok: false, problem: tooLarge(limits) };
      entryBytes.set(key, entry + measured);
    }
    keyCount += keys.length;
    changes.set = set as Record<string, Json>;
  }

  if (keyCount === 0) return { ok: false, problem: 'the change has no key in set or delete: it would change nothing' };
  return { ok: true, changes, entryBytes, bytes };
}

/**
 * UTF-8 bytes of each entry (`"key":value`) of a document loaded from disk, under the value rule
 * with no size limit; a problem names the first key that breaks the rule.
 */
export function measureDocument(data: Record<string, unknown>, maxValueDepth: number): Map<string, number> | string {
  const sizes = new Map<string, number>();
  const limits = { maxValueDepth, maxOpBytes: Number.MAX_SAFE_INTEGER };
  for (const key of Object.keys(data)) {
    if (key === FORBIDDEN_KEY) return 'the key "__proto__" is not allowed';
    const measured = measureValue(data[key], 'data', key, limits, Number.MAX_SAFE_INTEGER);
    if (typeof measured === 'string') return measured;
    sizes.set(key, jsonStringBytes(key) + 1 + measured);
  }
  return sizes;
}

/** UTF-8 bytes of the JSON of a document whose entries have these sizes. */
export function documentBytes(entrySum: number, entryCount: number): number {
  return 2 + entrySum + Math.max(0, entryCount - 1);
}
