/**
 * The fast path for the hot events (issue 15): a message read in `open`
 * (`message.received`) and a send while flowing (`client.send`), the events a
 * busy connection handles thousands of times a second. One XState macrostep
 * costs more than the rest of such an event together (bench/RESULTS.md,
 * scenario 6), yet for these events in these states the chart's answer is one
 * transition without a target: a few actions, no state entered or left.
 *
 * `withFastPath(machine)` is the machine with its own `transition` in front:
 * for a hot event it asks XState which transitions the chart enables
 * (`getTransitionData`, the chart's own guards), and when that is one
 * transition without a target whose actions are all of the three kinds it can
 * run as XState would (an `assign` with a function, an `enqueueActions` that
 * only assigns and sends to the socket, a plain function), it runs them in the
 * chart's order, on the context each sees in a macrostep, and returns the next
 * snapshot. Anything else (a target, a reentry, another kind of action, an
 * eventless transition in the configuration, more than one transition, an
 * inspector attached) takes XState's macrostep, as does every other event.
 * XState's `Actor` still runs the mailbox, sets the snapshot, runs deferred
 * effects and tells observers: only the macrostep's resolution is skipped.
 *
 * The fast path is checked against the chart: test/fast-path.test.ts runs
 * every hot event in every state of the chart through a connection with it
 * and one without (an inspector attached) and compares status, Model, outbox
 * and history.
 */
import type { AnyActorRef, AnyActorScope, AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';

/** The events the fast path may take; every other event goes through XState's macrostep. */
const HOT_EVENTS: ReadonlySet<string> = new Set(['message.received', 'client.send']);

/** What an actor created with `withFastPath(machine)` tells it (from the effects in its input). */
export interface FastPathSwitch {
  /** False while an inspector is attached: it sees every transition, so every event takes the macrostep. */
  enabled(): boolean;
}

/** Counts of hot events per path, for tests and probes (process-wide): `sourced`, those whose transition came from the source found for their configuration. */
export const fastPathStats = { fast: 0, full: 0, sourced: 0 };

/** The transition XState selects, as far as the fast path reads it. */
interface Transition {
  target?: readonly unknown[] | undefined;
  reenter?: boolean;
  actions: readonly unknown[];
}

/** A chart action as `setup()` stores it: a function, with XState's marks on the built-in ones. */
type ActionImplementation = ((args: unknown, params: unknown) => void) & {
  type?: string;
  resolve?: unknown;
  assignment?: unknown;
  collect?: (args: unknown, params: unknown) => void;
};

/** The switch of the actor behind `scope` (createConnection's), or null: then the scope is XState's pure `transition()`'s, or another actor's. */
function switchOf(scope: AnyActorScope): FastPathSwitch | null {
  const input = (scope.self as { options?: { input?: { effects?: { fastPath?: FastPathSwitch } } } }).options?.input;
  return input?.effects?.fastPath ?? null;
}

function noSpawn(): never {
  throw new Error('statesocket: the fast path cannot spawn; this action must take the macrostep');
}

/** The args XState gives an assignment. */
function argsOf(context: object, event: EventObject, scope: AnyActorScope) {
  return { context, event, spawn: noSpawn, self: scope.self, system: scope.system };
}

/**
 * The context after an `assign`, as XState's `resolveAssign` computes it (a function, or a map of values and
 * functions); null for another shape. The copy is XState's `Object.assign({}, context, partial)`: a spread costs
 * the same here (about 5.5k instructions for 19 fields under callgrind: V8 clones an object made by a clone
 * on its slow path, and every context is made from the one before, issue 15).
 */
function assigned(assignment: unknown, context: object, event: EventObject, scope: AnyActorScope): object | null {
  if (typeof assignment === 'function') return Object.assign({}, context, (assignment as (a: unknown, p: unknown) => object)(argsOf(context, event, scope), undefined));
  if (assignment === null || typeof assignment !== 'object') return null;
  const partial: Record<string, unknown> = {};
  for (const key of Object.keys(assignment)) {
    const value = (assignment as Record<string, unknown>)[key];
    partial[key] = typeof value === 'function' ? (value as (a: unknown, p: unknown) => unknown)(argsOf(context, event, scope), undefined) : value;
  }
  return Object.assign({}, context, partial);
}

/** A plain action to run with the context it sees, or (`target`) a `sendTo` to deliver once the snapshot is set. */
interface Effect {
  implementation: ActionImplementation | null;
  context: object;
  params: unknown;
  target: AnyActorRef | null;
  sent: EventObject | null;
}

/** What the fast path resolved: the next context, and the effects to run, in the chart's order. */
interface Plan {
  context: object;
  effects: Effect[];
}

/** What `enqueue` records into while an `enqueueActions`'s `collect` runs (`planEnqueued`); null between. */
interface Recording {
  plan: Plan;
  snapshot: AnyMachineSnapshot;
  event: EventObject;
  scope: AnyActorScope;
  implementations: Record<string, ActionImplementation | undefined>;
  refused: boolean;
}

let recording: Recording | null = null;

function refuse(): void {
  if (recording !== null) recording.refused = true;
}

/**
 * The `enqueue` every `collect` the fast path runs is given: one function for all (a recorder made per
 * send was about 9 closures of garbage, issue 15), recording into `recording`.
 * `enqueue({ type, params })`: a plain action runs as XState runs it, with the context it sees (the one before this action).
 */
const enqueue = Object.assign(
  (action: unknown) => {
    const r = recording;
    if (r === null) return;
    const { type, params } = (action ?? {}) as { type?: unknown; params?: unknown };
    const implementation = typeof type === 'string' ? r.implementations[type] : undefined;
    if (implementation === undefined || implementation.type !== undefined || implementation.resolve !== undefined || typeof params === 'function') return refuse();
    r.plan.effects.push({ implementation, context: r.plan.context, params, target: null, sent: null });
  },
  {
    assign: (assignment: unknown) => {
      const r = recording;
      if (r === null) return;
      const next = r.refused ? null : assigned(assignment, r.plan.context, r.event, r.scope);
      if (next === null) r.refused = true;
      else r.plan.context = next;
    },
    sendTo: (to: unknown, sent: unknown, options?: unknown) => {
      const r = recording;
      if (r === null) return;
      const target = typeof to === 'string' ? (r.snapshot.children[to] as AnyActorRef | undefined) : undefined;
      if (target === undefined || sent === null || typeof sent !== 'object' || options !== undefined) return refuse();
      r.plan.effects.push({ implementation: null, context: r.plan.context, params: undefined, target, sent: sent as EventObject });
    },
    cancel: refuse,
    raise: refuse,
    sendParent: refuse,
    spawnChild: refuse,
    stopChild: refuse,
    emit: refuse,
  },
);

/**
 * Adds an `enqueueActions` to the plan: its `collect` is pure (XState runs it to learn what to
 * do), so it runs with a recorder. False when it enqueues anything but `assign`, a plain action
 * named with its params (`writeFrames`), and a `sendTo` of an event object to a child named by a
 * string, or names a child that is not there.
 */
function planEnqueued(
  plan: Plan,
  collect: (args: unknown, params: unknown) => void,
  snapshot: AnyMachineSnapshot,
  event: EventObject,
  scope: AnyActorScope,
  implementations: Record<string, ActionImplementation | undefined>,
): boolean {
  const outer = recording;
  const r: Recording = { plan, snapshot, event, scope, implementations, refused: false };
  recording = r;
  try {
    collect({ context: plan.context, event, enqueue, check: refuse, self: scope.self, system: scope.system }, undefined);
  } finally {
    recording = outer;
  }
  return !r.refused;
}

/** Runs the plan's effects in order, as XState would: plain actions at once, a `sendTo` once the snapshot is set (`actorScope.defer`). */
function runEffects(effects: readonly Effect[], event: EventObject, scope: AnyActorScope): void {
  for (const effect of effects) {
    const implementation = effect.implementation;
    if (implementation !== null) implementation({ context: effect.context, event, self: scope.self, system: scope.system }, effect.params);
    else {
      const target = effect.target!;
      const sent = effect.sent!;
      scope.defer(() => target.send(sent));
    }
  }
}

/** Some state of the configuration has an eventless (`always`) transition: a context change could enable it. */
function hasEventless(nodes: readonly { always?: unknown[] }[]): boolean {
  for (const node of nodes) if (node.always !== undefined && node.always.length > 0) return true;
  return false;
}

/** A state node, as far as the source lookup reads it (XState's `StateNode`). */
interface NodeLike {
  type: string;
  parent?: NodeLike | undefined;
  transitions: Map<string, readonly { guard?: unknown }[]>;
  next(snapshot: AnyMachineSnapshot, event: EventObject): unknown[] | undefined;
}

/** The node may hold a transition for `type`: its own, or a wildcard key that could match (counted as one: the lookup then refuses). */
function mayHandle(node: NodeLike, type: string): 'none' | 'exact' | 'unsure' {
  let found: 'none' | 'exact' | 'unsure' = node.transitions.has(type) ? 'exact' : 'none';
  for (const key of node.transitions.keys()) if (key !== type && key.includes('*') && (key === '*' || type.startsWith(key.slice(0, -1)))) found = 'unsure';
  return found;
}

/** What the fast path knows of one configuration for one hot event: the node that answers it (or null), and whether the configuration has an eventless transition. */
interface Lookup {
  source: NodeLike | null;
  eventless: boolean;
  /** The snapshot has exactly the fields XState's `createMachineSnapshot` makes (`withContext` copies them). */
  literal: boolean;
}

/** For each configuration (`snapshot._nodes`, the same array while the fast path runs), the lookup of each hot event. */
const lookups = new WeakMap<object, Map<string, Lookup>>();

/** The last lookup made (a run of one hot event in one configuration asks the same one): two map lookups fewer per event (issue 15). */
let last: { nodes: object | null; type: string; lookup: Lookup } = { nodes: null, type: '', lookup: { source: null, eventless: true, literal: false } };

/** The fields of XState's machine snapshot (`createMachineSnapshot`, xstate 5), in its order. */
const SNAPSHOT_FIELDS = ['status', 'output', 'error', 'machine', 'context', '_nodes', 'value', 'tags', 'children', 'historyValue', 'matches', 'hasTag', 'can', 'getMeta', 'toJSON'];

/** The snapshot has exactly XState's fields, in XState's order: then `withContext` makes the same object a spread would. */
function isLiteral(snapshot: AnyMachineSnapshot): boolean {
  const keys = Object.keys(snapshot);
  return keys.length === SNAPSHOT_FIELDS.length && keys.every((key, i) => key === SNAPSHOT_FIELDS[i]);
}

/**
 * `{ ...snapshot, context }` as an object literal of XState's fields: a spread of the snapshot took V8's slow
 * clone (`CloneObjectIC_Slow`, about 4.6k instructions per event under callgrind, issue 15), the literal a few hundred.
 * Only for a snapshot `isLiteral` accepted (checked once per configuration: every snapshot of one comes from
 * `createMachineSnapshot` or from here).
 */
function withContext(s: AnyMachineSnapshot, context: object): AnyMachineSnapshot {
  const f = s as unknown as Record<string, unknown>;
  return {
    status: f.status,
    output: f.output,
    error: f.error,
    machine: f.machine,
    context,
    _nodes: f._nodes,
    value: f.value,
    tags: f.tags,
    children: f.children,
    historyValue: f.historyValue,
    matches: f.matches,
    hasTag: f.hasTag,
    can: f.can,
    getMeta: f.getMeta,
    toJSON: f.toJSON,
  } as unknown as AnyMachineSnapshot;
}

/** The lookup of `type` in the snapshot's configuration, found once per configuration and event type. */
function lookupOf(snapshot: AnyMachineSnapshot, type: string): Lookup {
  const nodes = (snapshot as unknown as { _nodes: NodeLike[] })._nodes;
  if (last.nodes === nodes && last.type === type) return last.lookup;
  let byType = lookups.get(nodes);
  if (byType === undefined) lookups.set(nodes, (byType = new Map()));
  let lookup = byType.get(type);
  if (lookup === undefined) byType.set(type, (lookup = { source: sourceOf(nodes, type), eventless: hasEventless(nodes as { always?: unknown[] }[]), literal: isLiteral(snapshot) }));
  last = { nodes, type, lookup };
  return lookup;
}

/**
 * The one node whose transitions XState consults for `type` in this configuration and whose
 * answer is final (`finalSource`), found by walking up from every atomic state to the first node
 * with candidates for the event (no wildcard among them). Then `source.next(snapshot, event)` (XState's own guard evaluation) is what
 * `getTransitionData` returns, without walking the whole configuration for every event. Null
 * when the configuration is not that simple: the caller asks `getTransitionData`.
 */
function sourceOf(nodes: readonly NodeLike[], type: string): NodeLike | null {
  // the first node handling the event above each atomic state (undefined: none up to the root)
  const found = new Set<NodeLike | undefined>();
  for (const leaf of nodes) {
    if (leaf.type !== 'atomic') continue;
    let node: NodeLike | undefined = leaf;
    let handles: 'none' | 'exact' | 'unsure' = 'none';
    while (node !== undefined && (handles = mayHandle(node, type)) === 'none') node = node.parent;
    if (handles === 'unsure') found.add(undefined);
    found.add(node);
  }
  return finalSource(found, type);
}

/**
 * The source among the nodes found: one whose candidates end without a guard (XState always
 * selects one of them), every other node found an ancestor of it (XState, walking down, never
 * consults those: a region of a parallel state answered first). Else null.
 */
function finalSource(found: Set<NodeLike | undefined>, type: string): NodeLike | null {
  if (found.has(undefined)) return null;
  for (const node of found) {
    const candidates = node!.transitions.get(type);
    if (candidates === undefined || candidates.length === 0 || candidates[candidates.length - 1]!.guard !== undefined) continue;
    const ancestors = new Set<NodeLike>();
    for (let up = node!.parent; up !== undefined; up = up.parent) ancestors.add(up);
    let others = true;
    for (const other of found) if (other !== node && !ancestors.has(other!)) others = false;
    if (others) return node!;
  }
  return null;
}

/**
 * Runs a hot event as the chart's transition would, or returns null (the macrostep takes it).
 * Everything is resolved first (assignments and collects are pure); nothing runs unless every
 * action of the transition is of a kind the fast path runs. A custom action sees the context
 * after the assignments before it, as in a macrostep.
 */
function fastTransition(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, event: EventObject, scope: AnyActorScope): AnyMachineSnapshot | null {
  const { source, eventless, literal } = lookupOf(snapshot, event.type);
  if (eventless) return null;
  if (source !== null) fastPathStats.sourced++;
  const transitions = (source === null ? machine.getTransitionData(snapshot, event) : (source.next(snapshot, event) ?? [])) as unknown as Transition[];
  if (transitions.length !== 1) return null;
  const transition = transitions[0]!;
  if ((transition.target !== undefined && transition.target.length > 0) || transition.reenter === true) return null;
  const implementations = machine.implementations.actions as Record<string, ActionImplementation | undefined>;
  const plan: Plan = { context: snapshot.context as object, effects: [] };
  for (const action of transition.actions) {
    const implementation = typeof action === 'string' ? implementations[action] : undefined;
    if (implementation === undefined) return null;
    if (implementation.type === 'xstate.assign') {
      const next = assigned(implementation.assignment, plan.context, event, scope);
      if (next === null) return null;
      plan.context = next;
    } else if (implementation.type === 'xstate.enqueueActions' && implementation.collect !== undefined) {
      if (!planEnqueued(plan, implementation.collect, snapshot, event, scope, implementations)) return null;
    } else if (implementation.type === undefined && implementation.resolve === undefined) {
      plan.effects.push({ implementation, context: plan.context, params: undefined, target: null, sent: null });
    } else return null;
  }
  const next = plan.context === snapshot.context ? snapshot : literal ? withContext(snapshot, plan.context) : ({ ...snapshot, context: plan.context } as AnyMachineSnapshot);
  runEffects(plan.effects, event, scope);
  return next;
}

const wrapped = new WeakMap<AnyStateMachine, AnyStateMachine>();

/**
 * `machine` with the fast path in front of its `transition` (the same object for the same
 * machine). Only actors whose input carries `effects.fastPath` (createConnection's) take it.
 */
export function withFastPath<M extends AnyStateMachine>(machine: M): M {
  const known = wrapped.get(machine);
  if (known !== undefined) return known as M;
  const logic = Object.create(machine, {
    transition: {
      value(snapshot: AnyMachineSnapshot, event: EventObject, scope: AnyActorScope) {
        if (HOT_EVENTS.has(event.type) && snapshot.status === 'active') {
          const fastPath = switchOf(scope);
          if (fastPath !== null && fastPath.enabled()) {
            const next = fastTransition(machine, snapshot, event, scope);
            if (next !== null) {
              fastPathStats.fast++;
              return next;
            }
          }
          fastPathStats.full++;
        }
        return machine.transition(snapshot, event, scope);
      },
    },
  }) as M;
  wrapped.set(machine, logic);
  return logic;
}

/**
 * Calls `change(+1)` when an inspector is attached to the actor's system with `system.inspect()`,
 * and `change(-1)` when it is unsubscribed (once): the fast path steps aside while one is there.
 */
export function countInspectors(actor: AnyActorRef, change: (by: 1 | -1) => void): void {
  const system = actor.system as { inspect: (observer: never) => { unsubscribe(): void } };
  const inspect = system.inspect.bind(system);
  system.inspect = (observer) => {
    const subscription = inspect(observer);
    change(1);
    let attached = true;
    return {
      unsubscribe() {
        subscription.unsubscribe();
        if (attached) change(-1);
        attached = false;
      },
    };
  };
}
