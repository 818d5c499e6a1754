/**
 * Machine definition → graph of states and transitions. Pure (no DOM, no
 * layout), so the inspector page and the tests share it.
 *
 * The input is the `definition` of an `@xstate.actor` inspection message: the
 * machine *config* as JSON, as `@statelyai/inspect` serializes it
 * (`safe-stable-stringify`, keys sorted; functions become `{ type: name }`,
 * objects deeper than `serializationDepthLimit` become the string `"[Object]"`).
 * That config is all a remote page has; the runtime's resolved state nodes stay
 * in the inspected process. So this module resolves targets itself, with
 * XState v5's rules:
 *
 * - `'#id.sub.path'`: the state whose id is `id` (its `id` property, or the
 *   default id: the machine id and the path joined with dots), then `sub.path`;
 * - `'.child'`: a descendant of the state the transition belongs to;
 * - `'sibling.child'`: a descendant of that state's parent.
 *
 * What the graph utilities (`xstate/graph`) omit or rename is kept here:
 * `always` transitions are edges of kind `always`, and delayed transitions are
 * edges of kind `after` labelled with the delay's name (`after connectTimeout`),
 * not with the `xstate.after.<delay>.<state id>` event they are sent as.
 */

/** The kinds of state XState v5 knows. */
export type StateKind = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

export interface StateGraphNode {
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
  readonly kind: StateKind;
  /** Id of the initial child of a compound state; null otherwise. */
  readonly initial: string | null;
  /** True for the children of a parallel state (its regions). */
  readonly region: boolean;
  /** The definition was cut here (serialization depth): children may be missing. */
  readonly truncated: boolean;
  readonly tags: readonly string[];
}

/**
 * What triggers a transition: an event, a delay (`after`), nothing (`always`),
 * the state reaching a final child (`done`), or an invoked actor finishing or failing.
 */
export type TransitionKind = 'event' | 'after' | 'always' | 'done' | 'invoke.done' | 'invoke.error';

export interface StateGraphEdge {
  /** Unique within the graph. */
  readonly id: string;
  /** Id of the state the transition belongs to. */
  readonly source: string;
  /** Id of the target state; null for a transition without a target (actions only, or an event swallowed). */
  readonly target: string | null;
  readonly kind: TransitionKind;
  /**
   * The event type for `event`; the delay (its name, or milliseconds as digits)
   * for `after`; the invoked actor's `src` or id for `invoke.*`; empty otherwise.
   */
  readonly event: string;
  /** `socket.opened`, `after connectTimeout`, `after 500 ms`, `always`, `done`, `done: src`, `error: src`. */
  readonly trigger: string;
  /** The guard's name; combinators read `not(…)`, `and(…)`, `or(…)` (the definition keeps no operands). */
  readonly guard: string | null;
  /** `trigger [guard]`: what the chart writes on the arrow. */
  readonly label: string;
  /** Position among the candidates for the same trigger (the first whose guard passes is taken). */
  readonly order: number;
  readonly reenter: boolean;
  /** Action names, in order. */
  readonly actions: readonly string[];
}

export interface StateGraph {
  /** The machine's id (the root state's id). */
  readonly machineId: string;
  /** States, parents before children, in definition order. */
  readonly nodes: readonly StateGraphNode[];
  readonly edges: readonly StateGraphEdge[];
  /** Targets that could not be resolved and parts cut by the serializer; empty for a complete definition. */
  readonly problems: readonly string[];
}

type Json = Record<string, unknown>;

/** What `safe-stable-stringify` writes in place of an object or array deeper than its limit. */
const TRUNCATED = new Set(['[Object]', '[Array]']);
const CUT_HINT = 'cut by the serializer (raise serializationDepthLimit)';

function isCut(value: unknown): boolean {
  return typeof value === 'string' && TRUNCATED.has(value);
}
/** XState v5's combinator guards, which the serializer reduces to `{ type: name }`. */
const COMBINATORS = new Set(['not', 'and', 'or', 'stateIn']);

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** A name for an action, guard or actor source: a string, or an object's `type` (a serialized function). */
function nameOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value.type === 'string') return value.type;
  if (isRecord(value) && typeof value.src === 'string') return value.src;
  return null;
}

function guardLabel(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  const name = nameOf(guard);
  if (name === null) return 'guard';
  if (name === '') return 'inline guard';
  return COMBINATORS.has(name) ? `${name}(…)` : name;
}

interface MutableNode extends StateGraphNode {
  initial: string | null;
  config: Json;
  children: Map<string, MutableNode>;
}

/**
 * Parses a definition (the JSON string of an `@xstate.actor` message, or the
 * parsed object) into states and transitions.
 *
 * @returns null when the definition is not a machine config (a callback or
 *   promise actor's definition is just `{ "id": … }`: no `states`, no `initial`,
 *   no transitions); otherwise the graph, with `problems` listing anything
 *   that could not be resolved.
 * @example
 * ```ts
 * const graph = definitionToGraph(message.definition);
 * graph?.edges.filter((edge) => edge.kind === 'after').map((edge) => edge.label);
 * // ['after connectTimeout [isOffline]', …]
 * ```
 */
export function definitionToGraph(definition: unknown): StateGraph | null {
  let config: unknown = definition;
  if (typeof definition === 'string') {
    try {
      config = JSON.parse(definition);
    } catch {
      return null;
    }
  }
  if (!isRecord(config) || !isMachineLike(config)) return null;

  const problems: string[] = [];
  const machineId = typeof config.id === 'string' && config.id !== '' ? config.id : '(machine)';
  const nodes: MutableNode[] = [];
  const byId = new Map<string, MutableNode>();
  const root = buildNode(config, machineId, [], null, false, nodes, byId, problems);

  const edges: StateGraphEdge[] = [];
  for (const node of nodes) collectTransitions(node, root, byId, edges, problems);

  return {
    machineId,
    nodes: nodes.map(({ config: _config, children: _children, ...node }) => node),
    edges,
    problems,
  };
}

function isMachineLike(config: Json): boolean {
  return 'states' in config || 'initial' in config || 'on' in config || 'always' in config || 'after' in config;
}

function buildNode(
  config: Json,
  key: string,
  path: string[],
  parent: MutableNode | null,
  region: boolean,
  nodes: MutableNode[],
  byId: Map<string, MutableNode>,
  problems: string[],
): MutableNode {
  const id = parent === null ? key : `${parent.id}.${key}`;
  const states = config.states;
  const truncated = isCut(states) || (states !== undefined && !isRecord(states));
  if (truncated) problems.push(`${id}: child states were ${CUT_HINT}`);
  const childConfigs: Array<[string, Json]> = isRecord(states)
    ? Object.entries(states).map(([childKey, child]): [string, Json] => [childKey, isRecord(child) ? child : {}])
    : [];
  const declaredType = typeof config.type === 'string' ? config.type : undefined;
  const kind: StateKind =
    declaredType === 'parallel' || declaredType === 'final' || declaredType === 'history'
      ? declaredType
      : childConfigs.length > 0
        ? 'compound'
        : 'atomic';
  const customId = typeof config.id === 'string' && parent !== null ? config.id : null;
  const node: MutableNode = {
    id,
    customId,
    key,
    path,
    parent: parent?.id ?? null,
    kind,
    initial: null,
    region,
    truncated,
    tags: asList(config.tags).filter((tag): tag is string => typeof tag === 'string'),
    config,
    children: new Map(),
  };
  nodes.push(node);
  byId.set(id, node);
  if (customId !== null && customId !== id) byId.set(customId, node);

  for (const [childKey, childConfig] of childConfigs) {
    const child = buildNode(childConfig, childKey, [...path, childKey], node, kind === 'parallel', nodes, byId, problems);
    node.children.set(childKey, child);
  }
  if (kind === 'compound') {
    const initialKey = typeof config.initial === 'string' ? config.initial : isRecord(config.initial) ? nameOf(config.initial.target) : null;
    // Without `initial`, XState v5 enters the first child.
    const initial = initialKey !== null ? node.children.get(initialKey.replace(/^\./, '')) : node.children.values().next().value;
    node.initial = initial?.id ?? null;
    if (initialKey !== null && initial === undefined) problems.push(`${id}: initial state "${initialKey}" does not exist`);
  }
  return node;
}

/** Follows `keys` down from `node`; undefined when a key is missing. */
function descend(node: MutableNode | undefined, keys: readonly string[]): MutableNode | undefined {
  let current = node;
  for (const key of keys) current = current?.children.get(key);
  return current;
}

/** Resolves a target string with XState v5's rules (see the module comment). */
function resolveTarget(target: string, source: MutableNode, root: MutableNode, byId: Map<string, MutableNode>): MutableNode | undefined {
  if (target.startsWith('#')) {
    const [id = '', ...rest] = target.slice(1).split('.');
    const direct = byId.get(target.slice(1));
    return direct ?? descend(byId.get(id), rest);
  }
  if (target.startsWith('.')) return descend(source, target.slice(1).split('.'));
  const parent = source.parent === null ? undefined : byId.get(source.parent);
  // From the root XState requires '.child'; a bare key is read the same way here.
  return descend(parent ?? root, target.split('.'));
}

interface TriggerInfo {
  kind: TransitionKind;
  event: string;
  trigger: string;
}

function collectTransitions(
  node: MutableNode,
  root: MutableNode,
  byId: Map<string, MutableNode>,
  edges: StateGraphEdge[],
  problems: string[],
): void {
  const config = node.config;
  const add = (info: TriggerInfo, candidates: unknown) => addCandidates(node, root, byId, info, candidates, edges, problems);
  for (const key of ['on', 'after', 'invoke'] as const) {
    if (isCut(config[key])) problems.push(`${node.id}: ${key} was ${CUT_HINT}`);
  }

  if (isRecord(config.on)) {
    for (const [event, candidates] of Object.entries(config.on)) add({ kind: 'event', event, trigger: event }, candidates);
  }
  if (isRecord(config.after)) {
    for (const [delay, candidates] of Object.entries(config.after)) {
      const trigger = /^\d+$/.test(delay) ? `after ${delay} ms` : `after ${delay}`;
      add({ kind: 'after', event: delay, trigger }, candidates);
    }
  }
  if (config.always !== undefined) add({ kind: 'always', event: '', trigger: 'always' }, config.always);
  if (config.onDone !== undefined) add({ kind: 'done', event: '', trigger: 'done' }, config.onDone);
  for (const invoke of asList(config.invoke)) {
    if (!isRecord(invoke)) continue;
    const src = nameOf(invoke.src) ?? (typeof invoke.id === 'string' ? invoke.id : 'actor');
    if (invoke.onDone !== undefined) add({ kind: 'invoke.done', event: src, trigger: `done: ${src}` }, invoke.onDone);
    if (invoke.onError !== undefined) add({ kind: 'invoke.error', event: src, trigger: `error: ${src}` }, invoke.onError);
  }
}

function addCandidates(
  node: MutableNode,
  root: MutableNode,
  byId: Map<string, MutableNode>,
  info: TriggerInfo,
  candidates: unknown,
  edges: StateGraphEdge[],
  problems: string[],
): void {
  asList(candidates).forEach((candidate, order) => {
    if (isCut(candidate)) {
      problems.push(`${node.id}: ${info.trigger} was ${CUT_HINT}`);
      return;
    }
    const transition: Json = typeof candidate === 'string' ? { target: candidate } : isRecord(candidate) ? candidate : {};
    const guard = guardLabel(transition.guard ?? transition.cond);
    const actions = asList(transition.actions)
      .map(nameOf)
      .filter((name): name is string => name !== null);
    const label = guard === null ? info.trigger : `${info.trigger} [${guard}]`;
    const base = {
      source: node.id,
      kind: info.kind,
      event: info.event,
      trigger: info.trigger,
      guard,
      label,
      order,
      reenter: transition.reenter === true,
      actions,
    };
    if (isCut(transition.target)) {
      problems.push(`${node.id}: the target of ${info.trigger} was ${CUT_HINT}`);
      return;
    }
    const targets = asList(transition.target).filter((target): target is string => typeof target === 'string');
    if (targets.length === 0) {
      edges.push({ id: `${node.id}|${info.trigger}|${order}`, target: null, ...base });
      return;
    }
    targets.forEach((target, index) => {
      const resolved = resolveTarget(target, node, root, byId);
      if (resolved === undefined) {
        problems.push(`${node.id}: target "${target}" of ${info.trigger} does not exist`);
        return;
      }
      edges.push({ id: `${node.id}|${info.trigger}|${order}|${index}`, target: resolved.id, ...base });
    });
  });
}

/**
 * The ids of the states a snapshot `value` says are active, ancestors
 * included (`{ session: 'connecting' }` → `connection`, `connection.session`,
 * `connection.session.connecting`). Parts of the value that name no state of
 * the graph are ignored.
 */
export function activeStateIds(graph: StateGraph, value: unknown): string[] {
  const known = new Set(graph.nodes.map((node) => node.id));
  const active: string[] = [];
  const visit = (prefix: string, part: unknown, depth: number) => {
    if (depth > 100) return;
    if (typeof part === 'string') {
      const id = `${prefix}.${part}`;
      if (known.has(id)) active.push(id);
      return;
    }
    if (!isRecord(part)) return;
    for (const [key, inner] of Object.entries(part)) {
      const id = `${prefix}.${key}`;
      if (!known.has(id)) continue;
      active.push(id);
      visit(id, inner, depth + 1);
    }
  };
  if (known.has(graph.machineId)) active.push(graph.machineId);
  visit(graph.machineId, value, 0);
  return active;
}

/**
 * A snapshot value in one line: `errored.waiting`, or with parallel regions
 * `session.open(flow.flowing, heartbeat.off, stability.settling)`.
 */
export function describeStateValue(value: unknown, depth = 0): string {
  if (typeof value === 'string') return value;
  if (!isRecord(value) || depth > 50) return '';
  const parts = Object.entries(value).map(([key, inner]) => {
    const rest = describeStateValue(inner, depth + 1);
    if (rest === '') return key;
    return isRecord(inner) && Object.keys(inner).length > 1 ? `${key}${rest}` : `${key}.${rest}`;
  });
  return parts.length === 1 ? (parts[0] ?? '') : `(${parts.join(', ')})`;
}

/**
 * The trigger an event fires, as edge labels write it: a delayed event
 * `xstate.after.<delay>.<state id>` reads `after <delay>` (`after 500 ms` for
 * a number); any other event is its type.
 */
export function triggerOfEvent(eventType: string): string {
  const match = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (match === null) return eventType;
  const delay = match[1] ?? '';
  return /^\d+$/.test(delay) ? `after ${delay} ms` : `after ${delay}`;
}
