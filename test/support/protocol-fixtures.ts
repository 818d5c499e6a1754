/**
 * The conformance fixtures of docs/protocol-fixtures/ (format: its README.md): reading a scenario
 * (with `$repeat` expanded), its steps, and the pattern language (placeholders, variables). The
 * fixture test checks every file with these; a harness that replays the scenarios against a server
 * matches received frames with `matchPattern` and fills sent frames with `substitute`.
 */
import { readFileSync, readdirSync } from 'node:fs';

export const FIXTURES_DIR = new URL('../../docs/protocol-fixtures/', import.meta.url);

export type Frame = Record<string, unknown>;

export interface AclFixture {
  tokens: Array<{ token: string; user: string; info?: Record<string, unknown>; expiresInMs?: number; scope?: string[] }>;
  channels: Array<{ pattern: string; subscribe: string[]; publish: string[]; presence: string[] }>;
}

export type Step = { note?: string } & (
  | { client: string; connect: { query?: Record<string, string> } }
  | { client: string; send: unknown; invalid?: boolean }
  | { client: string; sendText: string }
  | { client: string; expect: unknown }
  | { client: string; expectChunked: unknown }
  | { client: string; expectNothing: true }
  | { client: string; expectClose: { code: number; reason?: unknown } }
  | { client: string; drop: true }
  | { client: string; close: number }
  | { server: 'change'; channel: string; set?: Record<string, unknown>; delete?: string[] }
  | { server: 'restart' }
  | { advanceMs: number }
);

export interface Scenario {
  name: string;
  title: string;
  spec: string;
  server?: Record<string, unknown>;
  acl?: AclFixture;
  distinct?: string[][];
  steps: Step[];
}

/** The action keys of a step; each step has exactly one. */
export const STEP_ACTIONS = ['connect', 'send', 'sendText', 'expect', 'expectChunked', 'expectNothing', 'expectClose', 'drop', 'close', 'server', 'advanceMs'] as const;
export type StepAction = (typeof STEP_ACTIONS)[number];

/** The server options a scenario may set (README: "Server options a scenario may set"). */
export const SCENARIO_SERVER_OPTIONS = [
  'logSize',
  'maxOpBytes',
  'maxDataBytes',
  'maxPayloadBytes',
  'token',
  'presenceGraceMs',
  'refreshBeforeMs',
  'maxClientsPerChannel',
  'markRetentionMs',
  'maxRefusalsPerClient',
  'maxChannelsPerConnection',
  'maxSubscribesPerMinute',
  'maxChannelsInMemory',
  'channelIdleMs',
  'helloTimeoutMs',
] as const;

/** The step's action key. */
export function actionOf(step: Step): StepAction {
  const actions = STEP_ACTIONS.filter((key) => key in step);
  if (actions.length !== 1) throw new Error(`a step needs exactly one of ${STEP_ACTIONS.join(', ')}; this one has ${actions.join(', ') || 'none'}: ${JSON.stringify(step)}`);
  return actions[0] as StepAction;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Replaces every `{"$repeat": [text, count]}` with the text repeated count times. */
export function expandRepeats(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expandRepeats);
  if (!isRecord(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === '$repeat') {
    const args = value.$repeat;
    if (!Array.isArray(args) || args.length !== 2 || typeof args[0] !== 'string' || !Number.isSafeInteger(args[1]) || (args[1] as number) < 0) {
      throw new Error(`{"$repeat": [text, count]} needs a string and a whole number; received ${JSON.stringify(args)}`);
    }
    return args[0].repeat(args[1] as number);
  }
  // Own keys as data (a "__proto__" key stays a key): defineProperty, never assignment.
  const out: Record<string, unknown> = {};
  for (const key of keys) Object.defineProperty(out, key, { value: expandRepeats(value[key]), enumerable: true, writable: true, configurable: true });
  return out;
}

/** Every scenario file, read and expanded, by file name. */
export function readScenarios(): Array<{ file: string; scenario: Scenario }> {
  return readdirSync(FIXTURES_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({ file, scenario: expandRepeats(JSON.parse(readFileSync(new URL(file, FIXTURES_DIR), 'utf8'))) as Scenario }));
}

// ── patterns ────────────────────────────────────────────────────────────────

export const TYPE_PLACEHOLDERS = ['any', 'string', 'bool', 'int', 'number'] as const;
export type TypePlaceholder = (typeof TYPE_PLACEHOLDERS)[number];

export type Placeholder = { kind: 'type'; type: TypePlaceholder } | { kind: 'variable'; name: string };

/** What a pattern string stands for: a placeholder, or null for a literal (see `literal`). */
export function placeholderOf(value: unknown): Placeholder | null {
  if (typeof value !== 'string' || !value.startsWith('$') || value.startsWith('$$')) return null;
  const name = value.slice(1);
  if ((TYPE_PLACEHOLDERS as readonly string[]).includes(name)) return { kind: 'type', type: name as TypePlaceholder };
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new Error(`${JSON.stringify(value)} is not a placeholder: $ and a letter, then letters, digits or _ (write "$$…" for a literal $)`);
  return { kind: 'variable', name };
}

/** A literal pattern string as the value it matches: `"$$x"` is `"$x"`. */
export function literal(value: string): string {
  return value.startsWith('$$') ? value.slice(1) : value;
}

function holdsType(type: TypePlaceholder, value: unknown): boolean {
  switch (type) {
    case 'any':
      return value !== undefined;
    case 'string':
      return typeof value === 'string';
    case 'bool':
      return typeof value === 'boolean';
    case 'int':
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
  }
}

/**
 * Matches `value` (a received frame) against `pattern`. Returns null when it matches, binding the
 * pattern's new variables in `bindings`; otherwise a problem naming where it differs (and
 * `bindings` unchanged).
 */
export function matchPattern(pattern: unknown, value: unknown, bindings: Map<string, unknown>): string | null {
  const bound = new Map(bindings);
  const problem = match(pattern, value, bound, '');
  if (problem === null) for (const [name, found] of bound) bindings.set(name, found);
  return problem;
}

function match(pattern: unknown, value: unknown, bound: Map<string, unknown>, at: string): string | null {
  const where = at === '' ? 'the frame' : at;
  const placeholder = placeholderOf(pattern);
  if (placeholder?.kind === 'type') return holdsType(placeholder.type, value) ? null : `${where}: expected ${String(pattern)}, received ${JSON.stringify(value)}`;
  if (placeholder?.kind === 'variable') {
    if (!bound.has(placeholder.name)) {
      if (value === undefined) return `${where}: expected a value for $${placeholder.name}, received nothing`;
      bound.set(placeholder.name, value);
      return null;
    }
    return deepEqual(bound.get(placeholder.name), value) ? null : `${where}: expected $${placeholder.name} (${JSON.stringify(bound.get(placeholder.name))}), received ${JSON.stringify(value)}`;
  }
  if (typeof pattern === 'string') return value === literal(pattern) ? null : `${where}: expected ${JSON.stringify(literal(pattern))}, received ${JSON.stringify(value)}`;
  if (Array.isArray(pattern)) {
    if (!Array.isArray(value) || value.length !== pattern.length) return `${where}: expected an array of ${pattern.length}, received ${JSON.stringify(value)}`;
    for (let i = 0; i < pattern.length; i++) {
      const problem = match(pattern[i], value[i], bound, `${at}[${i}]`);
      if (problem !== null) return problem;
    }
    return null;
  }
  if (isRecord(pattern)) {
    if (!isRecord(value)) return `${where}: expected an object, received ${JSON.stringify(value)}`;
    const extra = Object.keys(value).filter((key) => !Object.hasOwn(pattern, key));
    if (extra.length > 0) return `${where}: unexpected ${extra.map((key) => JSON.stringify(key)).join(', ')}`;
    for (const key of Object.keys(pattern)) {
      if (!Object.hasOwn(value, key)) return `${at === '' ? '' : `${at}.`}${key}: missing`;
      const problem = match(pattern[key], value[key], bound, at === '' ? key : `${at}.${key}`);
      if (problem !== null) return problem;
    }
    return null;
  }
  return Object.is(pattern, value) || pattern === value ? null : `${where}: expected ${JSON.stringify(pattern)}, received ${JSON.stringify(value)}`;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b) && typeof a === typeof b;
}

/**
 * A frame to send with its variables replaced: by their bound values, or by what `valueOf`
 * returns for them (the fixture test passes a sample of the right kind). Type placeholders may not
 * appear in a frame to send.
 */
export function substitute(frame: unknown, valueOf: (name: string, key: string) => unknown, key = ''): unknown {
  const placeholder = placeholderOf(frame);
  if (placeholder?.kind === 'type') throw new Error(`a frame to send cannot hold ${String(frame)}: only variables`);
  if (placeholder?.kind === 'variable') return valueOf(placeholder.name, key);
  if (typeof frame === 'string') return literal(frame);
  if (Array.isArray(frame)) return frame.map((item) => substitute(item, valueOf, key));
  if (isRecord(frame)) {
    const out: Record<string, unknown> = {};
    for (const field of Object.keys(frame)) {
      Object.defineProperty(out, field, { value: substitute(frame[field], valueOf, field), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return frame;
}

/** The variables a pattern or frame names, in order of appearance. */
export function variablesOf(value: unknown, found: string[] = []): string[] {
  const placeholder = placeholderOf(value);
  if (placeholder?.kind === 'variable') found.push(placeholder.name);
  else if (Array.isArray(value)) for (const item of value) variablesOf(item, found);
  else if (isRecord(value)) for (const key of Object.keys(value)) variablesOf(value[key], found);
  return found;
}
