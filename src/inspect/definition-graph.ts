/**
 * Inspection definition → graph of states and transitions, as the inspector
 * page draws it. Pure (no DOM, no layout), so the page and the tests share it.
 *
 * The input is the `definition` of an `@xstate.actor` inspection message: the
 * machine config as JSON, as `@statelyai/inspect` serializes it. The walk of
 * that config (states, targets, guards, delays) is `chart-walk.ts`, which the
 * Mermaid generator shares; this module only parses the message and gives
 * every target its own edge, labelled `trigger [guard]`.
 */
import { afterText, guardText, walkChart, type ChartState, type TransitionKind } from './chart-walk.js';

export type { StateType, TransitionKind } from './chart-walk.js';

/** A state of the graph: the walk's own description of it. */
export type StateGraphNode = ChartState;

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
  /** The guard as `guardText` writes it; from an inspection definition, combinators read `not(…)`, `and(…)`, `or(…)` (it keeps no operands). */
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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

  const chart = walkChart(config);
  const edges = chart.transitions.flatMap((transition): StateGraphEdge[] => {
    const guard = transition.guard === null ? null : (guardText(transition.guard) ?? 'guard');
    const base = {
      source: transition.source,
      kind: transition.kind,
      event: transition.event ?? transition.delay ?? transition.actor ?? '',
      trigger: transition.trigger,
      guard,
      label: guard === null ? transition.trigger : `${transition.trigger} [${guard}]`,
      order: transition.order,
      reenter: transition.reenter,
      actions: transition.actions,
    };
    if (transition.internal) return [{ id: transition.id, target: null, ...base }];
    return transition.targets.map((target, index) => ({ id: `${transition.id}|${index}`, target, ...base }));
  });
  return { machineId: chart.machineId, nodes: chart.states, edges, problems: chart.problems };
}

function isMachineLike(config: Record<string, unknown>): boolean {
  return 'states' in config || 'initial' in config || 'on' in config || 'always' in config || 'after' in config;
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
  return match === null ? eventType : afterText(match[1] ?? '');
}
