/**
 * What the inspector page shows of a context or an event: a collapsible tree,
 * and one-line previews for the log. Pure. Secrets are redacted here as well
 * as at the source, since any `@statelyai/inspect` inspector may feed the relay,
 * not only ours: keys named like a credential lose their value (`redactValue`),
 * and so do credential-like query parameters of every URL, `http(s)` included.
 */
import { isSecretName, REDACTED, redactUrl, redactValue } from '../redact.js';

export type TreeValueKind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null' | 'redacted' | 'other';

export interface ContextTreeNode {
  /** The key in its parent (`[3]` for an array item); `context` for the root. */
  readonly key: string;
  /** A stable path (`context.lastError.code`) for remembering what is expanded. */
  readonly path: string;
  readonly kind: TreeValueKind;
  /** `"text"`, `42`, `{3 keys}`, `[5 items]`, `[redacted]`. */
  readonly preview: string;
  /** Children of objects and arrays (at most `maxChildren`); absent for leaves. */
  readonly children?: readonly ContextTreeNode[];
  /** Children left out beyond `maxChildren`. */
  readonly omitted: number;
}

export interface ContextTreeOptions {
  /** Levels below the root that get children; deeper values show only their preview. @default 12 */
  maxDepth?: number;
  /** Children listed per object or array. @default 200 */
  maxChildren?: number;
  /** Characters of a string shown before it is cut. @default 240 */
  maxStringLength?: number;
}

const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\/\S+$/i;

/** A string as the page may show it: URLs lose their password and secret query values. */
export function redactString(text: string): string {
  if (!URL_LIKE.test(text)) return text;
  // Only URLs with something to hide go through redactUrl, which also normalizes them.
  const hasQuery = text.includes('?');
  const hasPassword = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(text);
  return hasQuery || hasPassword ? redactUrl(text) : text;
}

/** A deep copy with secrets redacted: `redactValue`, plus query secrets of non-WebSocket URLs. */
export function redactForDisplay(value: unknown): unknown {
  return redactStrings(redactValue(value), 0);
}

function redactStrings(value: unknown, depth: number): unknown {
  if (depth > 60) return value;
  if (typeof value === 'string') return redactString(value);
  if (Array.isArray(value)) return value.map((item) => redactStrings(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = redactStrings(inner, depth + 1);
    return out;
  }
  return value;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

function kindOf(value: unknown): TreeValueKind {
  if (value === REDACTED) return 'redacted';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'object':
      return 'object';
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    default:
      return 'other';
  }
}

/**
 * Builds the tree of a context, redacted.
 *
 * @example
 * ```ts
 * contextTree({ url: 'wss://h/?token=abc', auth: { password: 'p' } });
 * // url → "wss://h/?token=[redacted]", auth.password → [redacted]
 * ```
 */
export function contextTree(context: unknown, options: ContextTreeOptions = {}): ContextTreeNode {
  const maxDepth = options.maxDepth ?? 12;
  const maxChildren = options.maxChildren ?? 200;
  const maxStringLength = options.maxStringLength ?? 240;
  const redacted = redactForDisplay(context);

  const build = (key: string, path: string, value: unknown, depth: number): ContextTreeNode => {
    const kind = kindOf(value);
    if (kind === 'object' || kind === 'array') {
      const entries: Array<[string, unknown]> =
        kind === 'array' ? (value as unknown[]).map((item, index) => [`[${index}]`, item]) : Object.entries(value as object);
      const preview = kind === 'array' ? `[${entries.length} item${entries.length === 1 ? '' : 's'}]` : `{${entries.length} key${entries.length === 1 ? '' : 's'}}`;
      if (depth >= maxDepth) return { key, path, kind, preview, omitted: entries.length };
      const shown = entries.slice(0, maxChildren);
      return {
        key,
        path,
        kind,
        preview,
        children: shown.map(([childKey, child]) =>
          build(childKey, kind === 'array' ? `${path}${childKey}` : `${path}.${childKey}`, child, depth + 1),
        ),
        omitted: entries.length - shown.length,
      };
    }
    return { key, path, kind, preview: leafPreview(value, kind, maxStringLength), omitted: 0 };
  };
  return build('context', 'context', redacted, 0);
}

function leafPreview(value: unknown, kind: TreeValueKind, maxStringLength: number): string {
  if (kind === 'redacted') return REDACTED;
  if (kind === 'string') return JSON.stringify(cut(value as string, maxStringLength));
  if (kind === 'other') return value === undefined ? 'undefined' : String(value);
  return String(value);
}

/**
 * A one-line preview of a value, at most `maxLength` characters, redacted as
 * it is written. It stops walking once the line is full, so a huge event
 * costs no more than a small one (the log writes one per message in a flood).
 *
 * @example
 * ```ts
 * previewValue({ url: 'ws://h/?token=abc', code: 1006 }, 80);
 * // '{"url":"ws://h/?token=[redacted]","code":1006}'
 * ```
 */
export function previewValue(value: unknown, maxLength = 200): string {
  const parts: string[] = [];
  let length = 0;
  const full = () => length >= maxLength;
  const write = (text: string) => {
    if (full()) return;
    parts.push(text);
    length += text.length;
  };
  const walk = (item: unknown, depth: number) => {
    if (full()) return;
    if (depth > 20) return write('…');
    if (typeof item === 'string') return write(JSON.stringify(redactString(item)));
    if (item === null || typeof item === 'number' || typeof item === 'boolean') return write(String(item));
    if (item === undefined) return write('undefined');
    if (Array.isArray(item)) {
      write('[');
      for (let index = 0; index < item.length && !full(); index++) {
        if (index > 0) write(',');
        walk(item[index], depth + 1);
      }
      return write(']');
    }
    if (typeof item === 'object') {
      write('{');
      let first = true;
      // for…in, not Object.entries: a huge object is not copied to preview its start.
      for (const key in item) {
        if (full()) break;
        if (!Object.hasOwn(item, key)) continue;
        const inner = (item as Record<string, unknown>)[key];
        if (!first) write(',');
        first = false;
        write(`${JSON.stringify(key)}:`);
        if (isSecretName(key) && (inner === null || typeof inner !== 'object')) write(JSON.stringify(REDACTED));
        else walk(inner, depth + 1);
      }
      return write('}');
    }
    return write(String(item));
  };
  walk(value, 0);
  return cut(parts.join(''), maxLength);
}
