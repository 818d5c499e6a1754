/**
 * `previewValue`: JSON-like text for a value of any size or depth, cut to a
 * budget. The shipped views show the model with it instead of
 * `JSON.stringify`, which walks the whole value: a 200 KB value nested 100,000
 * levels deep threw `RangeError: Maximum call stack size exceeded` inside
 * `view.render` (issue 11, item 8), and a large one cost a full walk per frame.
 * Here the walk stops at `maxDepth` levels and once `maxLength` characters are
 * written, so a render costs at most about `maxLength` work.
 */

export interface PreviewLimits {
  /**
   * Levels shown; deeper arrays and objects print as `[…]` and `{…}`.
   * @default 8
   */
  maxDepth?: number;
  /**
   * Characters returned at most; a longer text ends with `…`.
   * @default 200
   */
  maxLength?: number;
}

export const DEFAULT_PREVIEW_LIMITS = { maxDepth: 8, maxLength: 200 } as const;

/**
 * The value as JSON text, cut at `maxDepth` levels and `maxLength` characters.
 * Equal to `JSON.stringify(value)` when that fits the limits; `undefined`,
 * functions, symbols and bigints print as their `String()`.
 *
 * @example
 * previewValue({ a: [1, { b: { c: 2 } }] }, { maxDepth: 2 }) // '{"a":[1,{…}]}'
 */
export function previewValue(value: unknown, limits: PreviewLimits = {}): string {
  const maxDepth = limits.maxDepth ?? DEFAULT_PREVIEW_LIMITS.maxDepth;
  const maxLength = Math.max(1, limits.maxLength ?? DEFAULT_PREVIEW_LIMITS.maxLength);
  let out = '';
  const full = () => out.length > maxLength;

  const walk = (item: unknown, depth: number, inContainer: boolean): void => {
    if (full()) return;
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
    if (typeof (item as { toJSON?: unknown }).toJSON === 'function') {
      // a Date, say: shown as JSON.stringify would (one level deeper, so a toJSON returning itself ends)
      if (depth >= maxDepth) {
        out += '…';
        return;
      }
      walk((item as { toJSON: () => unknown }).toJSON(), depth + 1, inContainer);
      return;
    }
    if (Array.isArray(item)) {
      if (depth >= maxDepth) {
        out += item.length === 0 ? '[]' : '[…]';
        return;
      }
      out += '[';
      for (let i = 0; i < item.length && !full(); i++) {
        if (i > 0) out += ',';
        walk(item[i], depth + 1, true);
      }
      out += ']';
      return;
    }
    const record = item as Record<string, unknown>;
    let first = true;
    if (depth >= maxDepth) {
      for (const key in record) {
        if (Object.hasOwn(record, key)) {
          first = false;
          break;
        }
      }
      out += first ? '{}' : '{…}';
      return;
    }
    out += '{';
    // for…in stops early; Object.keys would list every key of a huge object first
    for (const key in record) {
      if (full()) break;
      if (!Object.hasOwn(record, key)) continue;
      const entry = record[key];
      if (entry === undefined || typeof entry === 'function' || typeof entry === 'symbol') continue;
      if (!first) out += ',';
      first = false;
      out += `${JSON.stringify(key.length > maxLength ? key.slice(0, maxLength) : key)}:`;
      walk(entry, depth + 1, true);
    }
    out += '}';
  };

  walk(value, 0, false);
  return out.length > maxLength ? `${out.slice(0, maxLength - 1)}…` : out;
}

/** Milliseconds as a rounded countdown: `0.4 s`, `2.5 s`, `12 s`. */
export function formatCountdown(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}
