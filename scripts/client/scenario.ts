/**
 * Scenarios: a scripted list of steps run against a live connection. The
 * scripted client (`npm run client -- --script FILE`), the integration tests
 * and a simulator share it; it imports neither `ws` nor `node:*`.
 *
 * A scenario is a JSON array; each step is an object with exactly one action:
 *
 * | step | what it does |
 * |------|--------------|
 * | `{"wait": 250}` | waits 250 ms |
 * | `{"waitFor": {"state": "open"}, "timeout": 5000}` | waits until the connection is (or since the previous step began, was) in that state |
 * | `{"waitFor": {"model": {"k": 1}}, "timeout": 5000}` | waits until the model holds these keys with these values |
 * | `{"send": {"set": {"k": 1}, "delete": ["old"]}}` | sends an op (`createOp`) with the sync protocol; the value as-is with `raw` |
 * | `{"expect": {"state": "open", "model": {"k": 1}, "counters": {"rejected": 0, "received": {"min": 1}}}}` | checks now, without waiting |
 * | `{"disconnect": {"code": 1000, "reason": "bye"}}` | `connection.disconnect(code, reason)` |
 * | `{"connect": {}}` / `{"retry": {}}` | `connection.connect()` / `connection.retry()` |
 * | `{"control": "drop"}` | asks the server to misbehave: `drop`, `restart`, `stall?ms=500`, `close?code=1012`, ... |
 *
 * Waits are driven by `connection.subscribe`, each bounded by its timeout;
 * nothing polls.
 */
import { isSendableCloseCode } from '../../src/close-codes.js';
import type { Connection } from '../../src/connection.js';
import type { Json, StoreData } from '../../src/store.js';
import { createOp, type OpMessage } from '../../src/sync/client-protocol.js';
import type { ConnectionStatus, Counters, Model, StateName } from '../../src/types.js';

// ── the steps ───────────────────────────────────────────────────────────────

export const STATE_NAMES = ['idle', 'connecting', 'open', 'errored', 'closed'] as const satisfies readonly StateName[];

/** Keys and the values they must hold (deep equality on JSON). */
export type ModelCondition = Record<string, Json>;

/** A counter check: an exact number, or bounds (inclusive). */
export type CounterCheck = number | { min?: number; max?: number };

export interface WaitForCondition {
  state?: StateName;
  model?: ModelCondition;
}

export interface Expectation {
  state?: StateName;
  model?: ModelCondition;
  counters?: Partial<Record<keyof Counters, CounterCheck>>;
}

export type ScenarioStep =
  | { wait: number }
  | { waitFor: WaitForCondition; timeout?: number }
  /** With the sync protocol `{set?, delete?}`; with `raw`, any JSON value, sent as-is. */
  | { send: Json }
  | { expect: Expectation }
  | { disconnect: { code?: number; reason?: string } }
  | { connect: Record<string, never> }
  | { retry: Record<string, never> }
  | { control: string };

/** Which wire protocol the connection speaks: it decides what `send` puts on the wire. */
export type ScenarioProtocol = 'statesocket' | 'raw';

export const STEP_ACTIONS = ['wait', 'waitFor', 'send', 'expect', 'disconnect', 'connect', 'retry', 'control'] as const;
type StepAction = (typeof STEP_ACTIONS)[number];

/** The timeout of a `waitFor` step that gives none, in milliseconds. */
export const DEFAULT_WAIT_FOR_TIMEOUT_MS = 10_000;

// ── checking steps (by hand: no schema library in the published code) ──────

/** Checks a value at `path`, pushing a problem per fault found. */
type Check = (value: unknown, path: string, problems: string[]) => void;

function describeReceived(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function kindOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

const expected = (what: string): Check => (value, path, problems) => {
  problems.push(`${path}: expected ${what}, received ${describeReceived(value)}`);
};

/** A number, at least `min`, whole when `integer`. */
function number(min: number, integer = false): Check {
  const what = `${integer ? 'a whole number' : 'a number'} >= ${min}`;
  return (value, path, problems) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) expected(what)(value, path, problems);
  };
}

const string: Check = (value, path, problems) => {
  if (typeof value !== 'string') expected('a string')(value, path, problems);
};

function oneOf(options: readonly string[]): Check {
  return (value, path, problems) => {
    if (!options.includes(value as string)) expected(`one of ${options.map((o) => JSON.stringify(o)).join('|')}`)(value, path, problems);
  };
}

/** JSON: null, booleans, finite numbers, strings, arrays and plain objects of them, at most 64 deep. */
function isJson(value: unknown, depth = 0): boolean {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (depth >= 64 || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.every((item) => isJson(item, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  return (proto === Object.prototype || proto === null) && Object.values(value).every((item) => isJson(item, depth + 1));
}

const json: Check = (value, path, problems) => {
  if (!isJson(value)) expected('a JSON value')(value, path, problems);
};

const jsonRecord: Check = (value, path, problems) => {
  if (kindOf(value) !== 'object' || !isJson(value)) expected('an object of JSON values')(value, path, problems);
};

const stringArray: Check = (value, path, problems) => {
  if (!Array.isArray(value)) return expected('an array of strings')(value, path, problems);
  value.forEach((item, index) => string(item, `${path}[${index}]`, problems));
};

/** Only these keys, each checked when present; `required` ones must be. */
function strictObject(fields: Record<string, Check>, required: readonly string[] = [], hint = ''): Check {
  return (value, path, problems) => {
    if (kindOf(value) !== 'object') return expected('an object')(value, path, problems);
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!Object.hasOwn(fields, key)) problems.push(`${path}: unknown key ${JSON.stringify(key)}${hint}`);
    }
    for (const [key, check] of Object.entries(fields)) {
      if (record[key] !== undefined) check(record[key], `${path}.${key}`, problems);
      else if (required.includes(key)) problems.push(`${path}.${key}: required, received nothing`);
    }
  };
}

/** `check`, then `test` when `check` found nothing wrong. */
function refine(check: Check, test: (value: never) => boolean, message: string): Check {
  return (value, path, problems) => {
    const before = problems.length;
    check(value, path, problems);
    if (problems.length === before && !test(value as never)) problems.push(`${path}: ${message}`);
  };
}

const ms = number(0);
const count = number(0, true);
const state = oneOf(STATE_NAMES);
const counterCheck: Check = (value, path, problems) =>
  typeof value === 'number' ? count(value, path, problems) : strictObject({ min: count, max: count })(value, path, problems);
/** `drop`, `restart`, `stall?ms=500`, `close?code=1012&reason=bye`: a path segment and an optional query. */
const CONTROL_ACTION = /^[a-z][a-z0-9-]*(\?[A-Za-z0-9_-]+=[^&\s#]*(&[A-Za-z0-9_-]+=[^&\s#]*)*)?$/;

/** One check per action, given the whole step (so a stray key beside the action is refused too). */
const stepChecks: Record<Exclude<StepAction, 'send'>, Check> & { send: Record<ScenarioProtocol, Check> } = {
  wait: strictObject({ wait: ms }),
  waitFor: strictObject({
    waitFor: refine(
      strictObject({ state, model: jsonRecord }),
      (value: WaitForCondition) => value.state !== undefined || value.model !== undefined,
      'needs `state` or `model`',
    ),
    timeout: ms,
  }),
  send: {
    statesocket: strictObject({
      send: strictObject(
        { set: jsonRecord, delete: stringArray },
        [],
        ' (with the statesocket protocol, send takes {set?, delete?}; use --protocol raw to send anything else)',
      ),
    }),
    raw: strictObject({ send: json }),
  },
  expect: strictObject({
    expect: strictObject({
      state,
      model: jsonRecord,
      counters: strictObject({
        received: counterCheck,
        rejected: counterCheck,
        sent: counterCheck,
        renders: counterCheck,
        reconnects: counterCheck,
        dropped: counterCheck,
      }),
    }),
  }),
  disconnect: strictObject({
    disconnect: strictObject({
      code: refine(number(0), (code: number) => isSendableCloseCode(code), 'must be 1000 or 3000–4999'),
      reason: string,
    }),
  }),
  connect: strictObject({ connect: strictObject({}) }),
  retry: strictObject({ retry: strictObject({}) }),
  control: strictObject({
    control: refine(
      string,
      (action: string) => CONTROL_ACTION.test(action),
      'must be an action name with an optional query, like "drop", "restart", "stall?ms=500" or "close?code=1012"',
    ),
  }),
};

export type ParsedScenario = { ok: true; steps: ScenarioStep[] } | { ok: false; message: string };

/** Checks one step; returns the problems, each naming `steps[i]` and the field. */
function stepProblems(step: unknown, index: number, protocol: ScenarioProtocol): string[] {
  const at = `steps[${index}]`;
  if (step === null || typeof step !== 'object' || Array.isArray(step)) {
    return [`${at} must be an object such as {"wait": 100}; received ${describeReceived(step)}`];
  }
  const keys = Object.keys(step);
  const actions = keys.filter((key): key is StepAction => (STEP_ACTIONS as readonly string[]).includes(key));
  if (actions.length === 0) {
    return [
      `${at} has no action: expected one of ${STEP_ACTIONS.join(', ')}; received ${
        keys.length === 0 ? 'an empty object' : `keys ${keys.join(', ')}`
      }`,
    ];
  }
  if (actions.length > 1) {
    return [`${at} has more than one action (${actions.join(', ')}): put each in its own step`];
  }
  const action = actions[0] as StepAction;
  const check = action === 'send' ? stepChecks.send[protocol] : stepChecks[action];
  const problems: string[] = [];
  check(step, at, problems);
  return problems;
}

/**
 * Validates a scenario: an array of steps, or `{description?, steps}`.
 * Every problem is reported, each naming the step index and the field.
 *
 * @example
 * ```ts
 * const parsed = parseScenario(JSON.parse(text));
 * if (!parsed.ok) throw new Error(parsed.message); // "steps[2].waitFor.state: expected one of ..."
 * ```
 */
export function parseScenario(value: unknown, options: { protocol?: ScenarioProtocol } = {}): ParsedScenario {
  const protocol = options.protocol ?? 'statesocket';
  let steps: unknown = value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const { steps: inner, description, ...rest } = value as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) {
      return { ok: false, message: `a scenario object takes only "steps" and "description"; received ${extra.join(', ')}` };
    }
    if (description !== undefined && typeof description !== 'string') {
      return { ok: false, message: `a scenario's description must be a string; received ${describeReceived(description)}` };
    }
    steps = inner;
  }
  if (!Array.isArray(steps)) {
    return {
      ok: false,
      message: `a scenario is an array of steps (or {"steps": [...]}); received ${describeReceived(steps)}`,
    };
  }
  if (steps.length === 0) return { ok: false, message: 'a scenario needs at least one step; received an empty list' };
  const problems = steps.flatMap((step, index) => stepProblems(step, index, protocol));
  if (problems.length > 0) return { ok: false, message: problems.join('\n') };
  return { ok: true, steps: steps as ScenarioStep[] };
}

// ── running ─────────────────────────────────────────────────────────────────

export type ScenarioResult = { ok: true } | { ok: false; step: number; message: string };

export interface RunScenarioOptions {
  /**
   * Carries out a `control` step (`'drop'`, `'stall?ms=500'`, ...); `httpControl(url)` POSTs it to the server.
   * @default none: a control step fails
   */
  control?: (action: string) => Promise<void>;
  /**
   * Current time in milliseconds, for the elapsed times in messages.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Resolves after `ms` milliseconds; when `signal` aborts it must cancel its
   * timer (it may then settle or not: the runner ignores it). Used by `wait`
   * and the `waitFor` timeouts, so a simulated clock can drive a scenario.
   * @default setTimeout
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * What `send` puts on the wire: an op (`createOp`) for `statesocket`, the value itself for `raw`.
   * @default 'statesocket'
   */
  protocol?: ScenarioProtocol;
  /**
   * Aborting stops the scenario at the current step, which fails with the abort reason.
   * @default none
   */
  signal?: AbortSignal;
  /** Called as each step begins. */
  onStep?: (index: number, step: ScenarioStep) => void;
}

/** The default `sleep`: a timer that is cleared on abort. */
export function timerSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return;
    const id = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => clearTimeout(id), { once: true });
  });
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((key) => Object.hasOwn(b, key) && jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
  );
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** What differs between the model and the condition, one phrase per key; empty when it holds. */
function modelMismatches(data: unknown, condition: ModelCondition): string[] {
  const record = data !== null && typeof data === 'object' ? (data as Record<string, unknown>) : {};
  const out: string[] = [];
  for (const [key, expected] of Object.entries(condition)) {
    if (!Object.hasOwn(record, key)) out.push(`expected model.${key} = ${show(expected)}, found no key ${key}`);
    else if (!jsonEqual(record[key], expected)) {
      out.push(`expected model.${key} = ${show(expected)}, found ${show(record[key])}`);
    }
  }
  return out;
}

function counterMismatches(counters: Readonly<Counters>, checks: NonNullable<Expectation['counters']>): string[] {
  const out: string[] = [];
  for (const [name, check] of Object.entries(checks) as Array<[keyof Counters, CounterCheck | undefined]>) {
    if (check === undefined) continue;
    const found = counters[name];
    if (typeof check === 'number') {
      if (found !== check) out.push(`expected counters.${name} = ${check}, found ${found}`);
      continue;
    }
    if (check.min !== undefined && found < check.min) out.push(`expected counters.${name} >= ${check.min}, found ${found}`);
    if (check.max !== undefined && found > check.max) out.push(`expected counters.${name} <= ${check.max}, found ${found}`);
  }
  return out;
}

function describeStatus(status: ConnectionStatus): string {
  const parts = [`state ${status.state}`];
  if (status.attempt > 0) parts.push(`attempt ${status.attempt}`);
  if (status.lastError !== null) {
    const close = status.lastError.closeCode !== undefined ? ` (close ${status.lastError.closeCode})` : '';
    parts.push(`last error ${status.lastError.code}${close}`);
  }
  return parts.join(', ');
}

/** A short name for a step in messages: `waitFor state open`, `control drop`. */
export function describeStep(step: ScenarioStep): string {
  if ('wait' in step) return `wait ${step.wait} ms`;
  if ('waitFor' in step) {
    const parts: string[] = [];
    if (step.waitFor.state !== undefined) parts.push(`state ${step.waitFor.state}`);
    if (step.waitFor.model !== undefined) parts.push(`model ${show(step.waitFor.model)}`);
    return `waitFor ${parts.join(' and ')}`;
  }
  if ('send' in step) return `send ${show(step.send)}`;
  if ('expect' in step) return 'expect';
  if ('disconnect' in step) return 'disconnect';
  if ('connect' in step) return 'connect';
  if ('retry' in step) return 'retry';
  return `control ${step.control}`;
}

/**
 * Runs the steps in order against `connection` and reports the first step
 * that did not hold. Never throws: a throwing effect fails its step.
 *
 * A `waitFor` state counts when the connection is in it, or entered it since
 * the previous step began: a fast reconnect cannot slip between two steps
 * (`control: drop` then `waitFor: errored` then `waitFor: open`).
 *
 * @returns `{ok: true}`, or `{ok: false, step, message}` where `step` is the
 *   index in the array and `message` names it (`steps[2] (waitFor state open): ...`)
 *   with what was expected and what was found.
 */
export async function runScenario(
  connection: Connection<Model<StoreData, never>, OpMessage | Json>,
  steps: readonly ScenarioStep[],
  options: RunScenarioOptions = {},
): Promise<ScenarioResult> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? timerSleep;
  const protocol = options.protocol ?? 'statesocket';

  let current = 0;
  /** States entered during the run, with the step that was running then. */
  const entered: Array<{ state: StateName; step: number }> = [];
  let lastState = connection.getStatus().state;
  const watchers = new Set<() => void>();
  const unsubscribe = connection.subscribe((status) => {
    if (status.state !== lastState) {
      lastState = status.state;
      entered.push({ state: status.state, step: current });
    }
    for (const watcher of [...watchers]) watcher();
  });

  /**
   * Resolves 'held' once `holds()` is true (now or after a status change),
   * 'timeout' after `timeoutMs`, 'aborted' when the run's signal aborts.
   */
  function until(holds: () => boolean, timeoutMs: number | null): Promise<'held' | 'timeout' | 'aborted'> {
    return new Promise((resolve) => {
      const timer = new AbortController();
      let settled = false;
      const finish = (outcome: 'held' | 'timeout' | 'aborted') => {
        if (settled) return;
        settled = true;
        watchers.delete(check);
        options.signal?.removeEventListener('abort', onAbort);
        timer.abort();
        resolve(outcome);
      };
      const check = () => {
        if (holds()) finish('held');
      };
      const onAbort = () => finish('aborted');
      if (options.signal?.aborted) return finish('aborted');
      options.signal?.addEventListener('abort', onAbort, { once: true });
      watchers.add(check);
      check();
      if (settled || timeoutMs === null) return;
      sleep(timeoutMs, timer.signal).then(
        () => finish('timeout'),
        () => finish('timeout'),
      );
    });
  }

  const abortMessage = () => {
    const reason: unknown = options.signal?.reason;
    return `stopped before it finished${reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : ''}`;
  };

  async function runStep(step: ScenarioStep, index: number): Promise<string | null> {
    if ('wait' in step) {
      const outcome = await until(() => false, step.wait);
      return outcome === 'aborted' ? abortMessage() : null;
    }
    if ('waitFor' in step) {
      const { state, model } = step.waitFor;
      const timeoutMs = step.timeout ?? DEFAULT_WAIT_FOR_TIMEOUT_MS;
      const stateHolds = () =>
        state === undefined ||
        connection.getStatus().state === state ||
        entered.some((entry) => entry.state === state && entry.step >= index - 1);
      const modelHolds = () => model === undefined || modelMismatches(connection.model.getData(), model).length === 0;
      const startedAt = now();
      const outcome = await until(() => stateHolds() && modelHolds(), timeoutMs);
      if (outcome === 'held') return null;
      if (outcome === 'aborted') return abortMessage();
      const found: string[] = [];
      if (!stateHolds()) found.push(`found ${describeStatus(connection.getStatus())}`);
      if (model !== undefined) found.push(...modelMismatches(connection.model.getData(), model));
      return `timed out after ${Math.max(timeoutMs, now() - startedAt)} ms; ${found.join('; ') || 'the condition held too late'}`;
    }
    if ('send' in step) {
      const message = protocol === 'statesocket' ? createOp(step.send as Parameters<typeof createOp>[0]) : step.send;
      connection.send(message);
      return null;
    }
    if ('expect' in step) {
      const status = connection.getStatus();
      const problems: string[] = [];
      const { state, model, counters } = step.expect;
      if (state !== undefined && status.state !== state) {
        problems.push(`expected state ${state}, found ${describeStatus(status)}`);
      }
      if (model !== undefined) problems.push(...modelMismatches(connection.model.getData(), model));
      if (counters !== undefined) problems.push(...counterMismatches(status.counters, counters));
      return problems.length === 0 ? null : problems.join('; ');
    }
    if ('disconnect' in step) {
      connection.disconnect(step.disconnect.code, step.disconnect.reason);
      return null;
    }
    if ('connect' in step) {
      connection.connect();
      return null;
    }
    if ('retry' in step) {
      connection.retry();
      return null;
    }
    if (options.control === undefined) {
      return 'no server control is configured (give runScenario a `control` function, e.g. httpControl(url))';
    }
    await options.control(step.control);
    return null;
  }

  try {
    for (const [index, step] of steps.entries()) {
      current = index;
      if (options.signal?.aborted) {
        return { ok: false, step: index, message: `steps[${index}] (${describeStep(step)}): ${abortMessage()}` };
      }
      options.onStep?.(index, step);
      let problem: string | null;
      try {
        problem = await runStep(step, index);
      } catch (error) {
        problem = `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      }
      if (problem !== null) return { ok: false, step: index, message: `steps[${index}] (${describeStep(step)}): ${problem}` };
    }
    return { ok: true };
  } finally {
    unsubscribe();
    watchers.clear();
  }
}

// ── server control over HTTP ────────────────────────────────────────────────

export interface HttpControlOptions {
  /**
   * The server's control token (`--control-token`, or the one it prints at start), sent as
   * `Authorization: Bearer <token>`; the reference server answers 401 without it.
   * Not the sync `token`: the two are separate secrets.
   * @default none (no Authorization header)
   */
  token?: string;
  /** @default the global fetch */
  fetch?: typeof globalThis.fetch;
}

/**
 * A `control` function that POSTs each action to `/control/<action>` on the
 * host and port of the WebSocket URL (`ws:` → `http:`, `wss:` → `https:`).
 *
 * @example
 * ```ts
 * await runScenario(connection, steps, { control: httpControl('ws://127.0.0.1:8080/sync', { token: controlToken }) });
 * // {"control": "stall?ms=500"} → POST http://127.0.0.1:8080/control/stall?ms=500
 * ```
 */
export function httpControl(wsUrl: string, options: HttpControlOptions = {}): (action: string) => Promise<void> {
  const base = new URL(wsUrl);
  base.protocol = base.protocol === 'wss:' ? 'https:' : 'http:';
  const origin = base.origin;
  return async (action) => {
    const target = new URL(`/control/${action}`, origin);
    const doFetch = options.fetch ?? globalThis.fetch;
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const response = await doFetch(target, { method: 'POST', headers });
    const body = await response.text().catch(() => '');
    if (!response.ok) {
      throw new Error(
        `POST ${target.pathname}${target.search} answered ${response.status} ${response.statusText}${body ? `: ${body.slice(0, 200)}` : ''}`,
      );
    }
  };
}
