/**
 * The machinery behind the frame validators of every protocol version: version 1's tables in
 * messages.ts, version 2's in messages-v2.ts. A frame is a plain object with a `type`; each type
 * has a table of fields; each field has a kind, which the version's `holds` switch checks. No
 * schema library (a schema library was 29 KB of the client's 33 KB gzipped bundle), no `ws`, no
 * `node:*`.
 *
 * A version passes its own `holds` rather than sharing one switch, so a client bundle that checks
 * only version 1 frames carries none of version 2's kinds.
 */

export type Parsed<T> = { ok: true; frame: T } | { ok: false; problem: string };

/** One field of a frame: its key, what it must be, and whether it may be absent (undefined). */
export interface Field<K extends string> {
  readonly key: string;
  readonly kind: K;
  readonly optional: boolean;
}

export const required = <K extends string>(key: string, kind: K): Field<K> => ({ key, kind, optional: false });
export const optional = <K extends string>(key: string, kind: K): Field<K> => ({ key, kind, optional: true });

/** The kinds of one protocol version: the check that runs for every field, and the words for problems. */
export interface FrameKinds<K extends string> {
  /** Whether `value` is of `kind`. Runs for every field of every frame: keep it a switch that allocates nothing. */
  holds(kind: K, value: unknown): boolean;
  /** What a value of each kind must be, in problem messages ("a string of 1 to 128 characters"). */
  readonly expected: Readonly<Record<K, string>>;
  /**
   * What was received instead, when it can say more than `describeValue` (which item of an array
   * is wrong, say); undefined to use `describeValue`. Called only for a field that does not hold.
   */
  received?(kind: K, value: unknown): string | undefined;
}

/** A plain object (`{}` or `Object.create(null)`), as `JSON.parse` makes them. */
export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') return false;
  return true;
}

/** A whole number from 0 to 2^53 - 1 (a sequence number, a time in ms). */
export const isWholeNumber = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** A value as a problem message shows it: its kind and, when short, itself. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const bad = value.findIndex((item) => typeof item !== 'string');
    return bad === -1 ? `an array of ${value.length}` : `an array whose [${bad}] is ${describeValue(value[bad])}`;
  }
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of ${value.length} characters` : `the string ${JSON.stringify(value)}`;
    case 'number':
    case 'boolean':
      return `the ${typeof value} ${String(value)}`;
    case 'object':
      return isPlainRecord(value) ? 'an object' : `an object of class ${String((value as object).constructor?.name ?? 'unknown')}`;
    default:
      return `a ${typeof value}`;
  }
}

/** Whether `value` has every field right: the check that runs for every frame, so it allocates nothing. */
function fieldsHold<K extends string>(value: Record<string, unknown>, fields: readonly Field<K>[], kinds: FrameKinds<K>): boolean {
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as Field<K>;
    const fieldValue = value[field.key];
    if (fieldValue === undefined ? !field.optional : !kinds.holds(field.kind, fieldValue)) return false;
  }
  return true;
}

/**
 * Checks `value` against the table of its `type`. The frame returned is the value itself (fields
 * the table does not name are kept, never copied). A refusal names every wrong field as
 * `type.key: expected …, received …`, or the types known when `type` is not one of them.
 *
 * @param frames the fields of each type, in a Map: a `type` that came off the wire never reaches Object.prototype
 * @param what the frame's side in messages ("a server frame")
 */
export function checkFrame<T, K extends string>(frames: ReadonlyMap<unknown, readonly Field<K>[]>, kinds: FrameKinds<K>, what: string, value: unknown): Parsed<T> {
  if (!isPlainRecord(value)) return { ok: false, problem: `expected ${what} (an object with a "type"), received ${describeValue(value)}` };
  const type = value.type;
  const fields = frames.get(type);
  if (fields === undefined) {
    const types = [...frames.keys()].map((name) => JSON.stringify(name)).join(', ');
    return { ok: false, problem: `type: expected one of ${types}, received ${describeValue(type)}` };
  }
  if (fieldsHold(value, fields, kinds)) return { ok: true, frame: value as T };
  // Refused: now say why, naming every wrong field.
  const problems: string[] = [];
  for (const field of fields) {
    const fieldValue = value[field.key];
    if (fieldValue === undefined ? field.optional : kinds.holds(field.kind, fieldValue)) continue;
    const received = (fieldValue === undefined ? undefined : kinds.received?.(field.kind, fieldValue)) ?? describeValue(fieldValue);
    problems.push(`${String(type)}.${field.key}: expected ${kinds.expected[field.kind]}, received ${received}`);
  }
  return { ok: false, problem: problems.join('; ') };
}
