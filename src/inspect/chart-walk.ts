/**
 * A machine's definition → a plain description of its states and
 * transitions: the one walk of the chart that the Mermaid generator
 * (`mermaid.ts`) and the inspector page (`definition-graph.ts`) both draw from.
 * Pure and serializable (no functions, no state node objects), so
 * `JSON.parse(JSON.stringify(chart))` is the same chart.
 *
 * The input is a machine *config*, in either of the two forms it travels in:
 *
 * - `machine.config`, the object the chart was written as (guards, actions and
 *   delays may be functions; `not(a)`, `and([…])` and `stateIn(…)` keep their
 *   operands), which is what `npm run diagram` reads;
 * - the `definition` of an `@xstate.actor` inspection message, parsed: the same
 *   config as `@statelyai/inspect` serializes it (every function becomes
 *   `{ type: name }`, so combinators lose their operands; objects deeper than
 *   `serializationDepthLimit` become the string `"[Object]"` or `"[Array]"`).
 *   That is all a remote page has: the runtime's resolved state nodes stay in
 *   the inspected process.
 *
 * So targets are resolved here, with XState v5's rules:
 *
 * - `'#id.sub.path'`: the state whose id is `id` (its `id` property, or the
 *   default id: the machine id and the path joined with dots), then `sub.path`;
 * - `'.child'`: a descendant of the state the transition belongs to;
 * - `'sibling.child'`: a descendant of that state's parent.
 *
 * What the graph utilities (`xstate/graph`) omit or rename is kept: `always`
 * transitions are of kind `always`, and delayed ones of kind `after` with the
 * delay's name (`connectTimeout`), not the `xstate.after.<delay>.<state id>`
 * event they are sent as. `test/inspect/chart-walk.test.ts` holds the walk to
 * the runtime's own state nodes.
 */

/** The kinds of state XState v5 knows. */
export type StateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

export interface ChartState {
  /** The default XState id: the machine id and the path joined with dots (`connection.session.open`). */
  readonly id: string;
  /** The `id` the config gives this state, when it gives one (targets may name it as `#id`). */
  readonly customId: string | null;
  /** The state's key in its parent (`open`); the machine id for the root. */
  readonly key: string;
  /** Keys from the root (the root's path is empty). */
  readonly path: readonly string[];
  /** Id of the parent state; null for the root. */
  readonly parent: string | null;
  readonly type: StateType;
  /** Id of the initial child of a compound state; null otherwise. */
  readonly initial: string | null;
  /** True for the children of a parallel state (its regions). */
  readonly region: boolean;
  /** The definition was cut here (serialization depth): children may be missing. */
  readonly truncated: boolean;
  readonly tags: readonly string[];
  /** Entry action names, in order. */
  readonly entry: readonly string[];
  /** Exit action names, in order. */
  readonly exit: readonly string[];
}

/**
 * What triggers a transition: an event, a delay (`after`), nothing (`always`),
 * the state reaching a final child (`done`), or an invoked actor finishing or failing.
 */
export type TransitionKind = 'event' | 'after' | 'always' | 'done' | 'invoke.done' | 'invoke.error';

/**
 * A guard by name. The combinators `not`, `and`, `or` carry their `operands`
 * and `stateIn` its `state` when the definition still has them (a
 * `machine.config`); a serialized definition keeps only the name.
 */
export interface ChartGuard {
  /** A guard of `setup()`, a combinator's name, `''` for an anonymous function, `guard` when unreadable. */
  readonly name: string;
  readonly operands?: readonly ChartGuard[];
  /** `stateIn`'s argument as JSON (`"#connection.session"`). */
  readonly state?: string;
}

/** One transition of the definition: one candidate of one trigger of one state. */
export interface ChartTransition {
  /** `source|trigger|order`: unique within the chart. */
  readonly id: string;
  /** Id of the state the transition belongs to. */
  readonly source: string;
  readonly kind: TransitionKind;
  /** The event type, for kind `event`; null otherwise. */
  readonly event: string | null;
  /** The delay's name, or milliseconds as digits, for kind `after`; null otherwise. */
  readonly delay: string | null;
  /** The invoked actor's `src` (or its id), for kinds `invoke.*`; null otherwise. */
  readonly actor: string | null;
  /** What fires it, as the charts write it: `socket.opened`, `after connectTimeout`, `after 500 ms`, `always`, `done`, `done: src`, `error: src`. */
  readonly trigger: string;
  /** Position among the candidates for the same trigger (the first whose guard passes is taken). */
  readonly order: number;
  readonly guard: ChartGuard | null;
  /** Ids of the target states, in order; empty for an internal transition. */
  readonly targets: readonly string[];
  /** Action names, in order. */
  readonly actions: readonly string[];
  readonly reenter: boolean;
  /** No target: the state does not change (actions only, or an event swallowed). */
  readonly internal: boolean;
  /** Targets only its own state (it re-enters it when `reenter`). */
  readonly self: boolean;
}

export interface ChartDescription {
  /** The machine's id (the root state's id). */
  readonly machineId: string;
  /** States, parents before children, in definition order. */
  readonly states: readonly ChartState[];
  /** Transitions, state by state in the order of `states`; within a state: `on`, `after`, `always`, `onDone`, `invoke`. */
  readonly transitions: readonly ChartTransition[];
  /** Targets that could not be resolved and parts cut by the serializer; empty for a complete definition. */
  readonly problems: readonly string[];
}

type Json = Record<string, unknown>;

/** What a serializer writes in place of an object or array deeper than its limit. */
const TRUNCATED = new Set(['[Object]', '[Array]']);
const CUT_HINT = 'cut by the serializer (raise serializationDepthLimit)';
/** XState v5's combinator guards: functions carrying their operands, which a serializer reduces to `{ type: name }`. */
const COMBINATORS = new Set(['not', 'and', 'or', 'stateIn']);
const NO_NAMES: ReadonlySet<string> = new Set();

function isCut(value: unknown): boolean {
  return typeof value === 'string' && TRUNCATED.has(value);
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * A name for an action, guard or actor source: a string, a function's name
 * (what a serializer keeps of it), or an object's `type` (a serialized function,
 * or an action with params) or `src`.
 */
function nameOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'function') return value.name;
  if (isRecord(value) && typeof value.type === 'string') return value.type;
  if (isRecord(value) && typeof value.src === 'string') return value.src;
  return null;
}

function readGuard(value: unknown): ChartGuard | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'function') {
    const combinator = value as { name: string; guards?: unknown; stateValue?: unknown };
    if (Array.isArray(combinator.guards) && COMBINATORS.has(combinator.name)) {
      const operands = (combinator.guards as unknown[]).map((operand) => readGuard(operand) ?? { name: 'guard' });
      return { name: combinator.name, operands };
    }
    if (combinator.name === 'stateIn' && combinator.stateValue !== undefined) {
      return { name: 'stateIn', state: JSON.stringify(combinator.stateValue) };
    }
  }
  return { name: nameOf(value) ?? 'guard' };
}

/** `after name`, or `after 500 ms` for a delay given in milliseconds. */
export function afterText(delay: string): string {
  return /^\d+$/.test(delay) ? `after ${delay} ms` : `after ${delay}`;
}

/**
 * A guard as text: its name, or `not a`, `a and b`, `a or b`, `in "#state"`
 * for the combinators; `not(…)` when the definition kept no operands.
 * `not <hidden guard>` reads as nothing (null), and inside `and`/`or` it is dropped:
 * the Mermaid generator hides guards that only drop noise that way.
 */
export function guardText(guard: ChartGuard, hidden: ReadonlySet<string> = NO_NAMES): string | null {
  return textOf(guard, hidden, false);
}

function textOf(guard: ChartGuard, hidden: ReadonlySet<string>, nested: boolean): string | null {
  const { name, operands } = guard;
  if (name === 'stateIn' && guard.state !== undefined) return `in ${guard.state}`;
  if (operands === undefined) {
    if (name === '') return 'inline guard';
    return COMBINATORS.has(name) ? `${name}(…)` : name;
  }
  if (name === 'not') {
    const [operand] = operands;
    if (operand === undefined) return 'not(…)';
    if (operand.operands === undefined && hidden.has(operand.name)) return null;
    return `not ${textOf(operand, hidden, true) ?? 'guard'}`;
  }
  const parts = operands.map((operand) => textOf(operand, hidden, true)).filter((part): part is string => part !== null);
  if (parts.length <= 1) return parts[0] ?? null;
  const text = parts.join(` ${name} `);
  return nested ? `(${text})` : text;
}

interface MutableState extends ChartState {
  initial: string | null;
  config: Json;
  children: Map<string, MutableState>;
}

/** What one walk collects. */
interface Walk {
  readonly states: MutableState[];
  readonly byId: Map<string, MutableState>;
  readonly transitions: ChartTransition[];
  readonly problems: string[];
}

/**
 * Walks a machine config (see the module comment for the two forms) into
 * states and transitions.
 *
 * @example
 * ```ts
 * const chart = walkChart(connectionMachine.config);
 * chart.transitions.filter((transition) => transition.kind === 'after').map((transition) => transition.delay);
 * // ['connectTimeout', 'stableAfter', …]
 * ```
 * @returns the chart; `problems` lists what could not be resolved or was cut
 */
export function walkChart(config: object): ChartDescription {
  const root = config as Json;
  const machineId = typeof root.id === 'string' && root.id !== '' ? root.id : '(machine)';
  const walk: Walk = { states: [], byId: new Map(), transitions: [], problems: [] };
  readState(walk, root, machineId, [], null, false);
  for (const state of walk.states) readTransitions(walk, state);
  return {
    machineId,
    states: walk.states.map(({ config: _config, children: _children, ...state }) => state),
    transitions: walk.transitions,
    problems: walk.problems,
  };
}

/** Action names of an `entry`, `exit` or `actions` field; a field the serializer cut is reported. */
function actionNames(walk: Walk, value: unknown, where: string): string[] {
  if (isCut(value)) {
    walk.problems.push(`${where} was ${CUT_HINT}`);
    return [];
  }
  return asList(value)
    .map(nameOf)
    .filter((name): name is string => name !== null);
}

function readState(walk: Walk, config: Json, key: string, path: string[], parent: MutableState | null, region: boolean): MutableState {
  const id = parent === null ? key : `${parent.id}.${key}`;
  const states = config.states;
  const truncated = isCut(states) || (states !== undefined && !isRecord(states));
  if (truncated) walk.problems.push(`${id}: child states were ${CUT_HINT}`);
  const childConfigs: Array<[string, Json]> = isRecord(states)
    ? Object.entries(states).map(([childKey, child]): [string, Json] => [childKey, isRecord(child) ? child : {}])
    : [];
  const declaredType = typeof config.type === 'string' ? config.type : undefined;
  const type: StateType =
    declaredType === 'parallel' || declaredType === 'final' || declaredType === 'history'
      ? declaredType
      : childConfigs.length > 0
        ? 'compound'
        : 'atomic';
  const customId = typeof config.id === 'string' && parent !== null ? config.id : null;
  const state: MutableState = {
    id,
    customId,
    key,
    path,
    parent: parent?.id ?? null,
    type,
    initial: null,
    region,
    truncated,
    tags: asList(config.tags).filter((tag): tag is string => typeof tag === 'string'),
    entry: actionNames(walk, config.entry, `${id}: entry`),
    exit: actionNames(walk, config.exit, `${id}: exit`),
    config,
    children: new Map(),
  };
  walk.states.push(state);
  walk.byId.set(id, state);
  if (customId !== null && customId !== id) walk.byId.set(customId, state);

  for (const [childKey, childConfig] of childConfigs) {
    const child = readState(walk, childConfig, childKey, [...path, childKey], state, type === 'parallel');
    state.children.set(childKey, child);
  }
  if (type === 'compound') {
    const initialKey = typeof config.initial === 'string' ? config.initial : isRecord(config.initial) ? nameOf(config.initial.target) : null;
    const initial = initialKey === null ? undefined : state.children.get(initialKey.replace(/^\./, ''));
    state.initial = initial?.id ?? null;
    // XState v5 refuses both (a compound state must name an existing initial child).
    if (initialKey === null) walk.problems.push(`${id}: no initial state`);
    else if (initial === undefined) walk.problems.push(`${id}: initial state "${initialKey}" does not exist`);
  }
  return state;
}

/** Follows `keys` down from `state`; undefined when a key is missing. */
function descend(state: MutableState | undefined, keys: readonly string[]): MutableState | undefined {
  let current = state;
  for (const key of keys) current = current?.children.get(key);
  return current;
}

/** Resolves a target string with XState v5's rules (see the module comment). */
function resolveTarget(walk: Walk, target: string, source: MutableState): MutableState | undefined {
  if (target.startsWith('#')) {
    const [id = '', ...rest] = target.slice(1).split('.');
    return walk.byId.get(target.slice(1)) ?? descend(walk.byId.get(id), rest);
  }
  if (target.startsWith('.')) return descend(source, target.slice(1).split('.'));
  // From the root XState requires '.child'; a bare key is read the same way here.
  const parent = source.parent === null ? undefined : walk.byId.get(source.parent);
  return descend(parent ?? walk.states[0], target.split('.'));
}

/** What fires one list of candidates. */
interface Trigger {
  kind: TransitionKind;
  event: string | null;
  delay: string | null;
  actor: string | null;
  text: string;
}

function trigger(kind: TransitionKind, text: string, fields: Partial<Pick<Trigger, 'event' | 'delay' | 'actor'>> = {}): Trigger {
  return { kind, event: fields.event ?? null, delay: fields.delay ?? null, actor: fields.actor ?? null, text };
}

function readTransitions(walk: Walk, state: MutableState): void {
  const config = state.config;
  for (const key of ['on', 'after', 'invoke'] as const) {
    if (isCut(config[key])) walk.problems.push(`${state.id}: ${key} was ${CUT_HINT}`);
  }
  if (isRecord(config.on)) {
    for (const [event, candidates] of Object.entries(config.on)) readCandidates(walk, state, trigger('event', event, { event }), candidates);
  }
  if (isRecord(config.after)) {
    for (const [delay, candidates] of Object.entries(config.after)) {
      readCandidates(walk, state, trigger('after', afterText(delay), { delay }), candidates);
    }
  }
  if (config.always !== undefined) readCandidates(walk, state, trigger('always', 'always'), config.always);
  if (config.onDone !== undefined) readCandidates(walk, state, trigger('done', 'done'), config.onDone);
  for (const invoke of asList(config.invoke)) {
    if (!isRecord(invoke)) continue;
    const actor = nameOf(invoke.src) || (typeof invoke.id === 'string' ? invoke.id : 'actor');
    if (invoke.onDone !== undefined) readCandidates(walk, state, trigger('invoke.done', `done: ${actor}`, { actor }), invoke.onDone);
    if (invoke.onError !== undefined) readCandidates(walk, state, trigger('invoke.error', `error: ${actor}`, { actor }), invoke.onError);
  }
}

function readCandidates(walk: Walk, state: MutableState, cause: Trigger, candidates: unknown): void {
  const where = `${state.id}: ${cause.text}`;
  asList(candidates).forEach((candidate, order) => {
    if (isCut(candidate)) {
      walk.problems.push(`${where} was ${CUT_HINT}`);
      return;
    }
    const transition: Json = typeof candidate === 'string' ? { target: candidate } : isRecord(candidate) ? candidate : {};
    if (isCut(transition.target)) {
      walk.problems.push(`${state.id}: the target of ${cause.text} was ${CUT_HINT}`);
      return;
    }
    const written = asList(transition.target).filter((target): target is string => typeof target === 'string');
    const targets: string[] = [];
    for (const target of written) {
      const resolved = resolveTarget(walk, target, state);
      if (resolved === undefined) walk.problems.push(`${state.id}: target "${target}" of ${cause.text} does not exist`);
      else targets.push(resolved.id);
    }
    // Every target unresolved: leave it out rather than draw it as a transition that stays.
    if (written.length > 0 && targets.length === 0) return;
    walk.transitions.push({
      id: `${state.id}|${cause.text}|${order}`,
      source: state.id,
      kind: cause.kind,
      event: cause.event,
      delay: cause.delay,
      actor: cause.actor,
      trigger: cause.text,
      order,
      // `cond`: XState v4's name for it, which older inspectors may still send
      guard: readGuard(transition.guard ?? transition.cond),
      targets,
      actions: actionNames(walk, transition.actions, `${where}: actions`),
      reenter: transition.reenter === true,
      internal: targets.length === 0,
      self: targets.length > 0 && targets.every((target) => target === state.id),
    });
  });
}
