/**
 * The reference the chart walk (src/inspect/chart-walk.ts) is held to: a
 * machine's resolved state nodes, the ones the runtime itself uses, read
 * directly; and a small machine with every kind of transition, for the walk
 * and what draws from it.
 */
import { createMachine, type AnyStateMachine, type AnyStateNode, type AnyTransitionDefinition } from 'xstate';

/** Every state node, parents before children. */
export function runtimeStates(machine: AnyStateMachine): AnyStateNode[] {
  const below = (node: AnyStateNode): AnyStateNode[] => [node, ...Object.values(node.states).flatMap((child) => below(child as AnyStateNode))];
  return below(machine.root);
}

/** The id XState gives a state without an `id` of its own: the machine id and the path, joined with dots. */
export function defaultId(node: AnyStateNode): string {
  return [node.machine.id, ...node.path].join('.');
}

export interface RuntimeTransition {
  /** Default id (`defaultId`) of the state node it belongs to. */
  readonly source: string;
  /** `event`, `after delay`, `after 500 ms` or `always`, as the charts write it. */
  readonly trigger: string;
  /** The guard as the definition gives it (a name, or a combinator function). */
  readonly guard: unknown;
  /** Default ids of the resolved targets. */
  readonly targets: readonly string[];
  readonly reenter: boolean;
}

function trigger(transition: AnyTransitionDefinition): string {
  const eventType = String(transition.eventType);
  if (eventType === '') return 'always';
  const delay: unknown = (transition as { delay?: unknown }).delay;
  if (typeof delay === 'string') return `after ${delay}`;
  if (typeof delay === 'number') return `after ${delay} ms`;
  return eventType;
}

/** Every transition of every state node, `always` included: one entry per candidate. */
export function runtimeTransitions(machine: AnyStateMachine): RuntimeTransition[] {
  return runtimeStates(machine).flatMap((node) => {
    const lists: AnyTransitionDefinition[][] = [...node.transitions.values()];
    if (node.always !== undefined) lists.push(node.always);
    return lists.flat().map((transition) => ({
      source: defaultId(node),
      trigger: trigger(transition),
      guard: transition.guard,
      targets: (transition.target ?? []).map(defaultId),
      reenter: transition.reenter,
    }));
  });
}

/**
 * A small machine with a target of every form (sibling, child, `#id`, custom
 * id), a reentering self-transition, delays by name and in milliseconds,
 * `always`, state `onDone`, invoke `onDone`/`onError`, final and history states.
 */
export const sampleMachine = createMachine({
  id: 'm',
  initial: 'a',
  states: {
    a: {
      id: 'custom',
      on: { GO: 'b', DEEP: 'b.two', SELF: { target: 'a', reenter: true }, NOOP: { actions: 'log' } },
      after: { 1000: '#m.b', slow: { target: 'b', guard: 'isSlow' } },
    },
    b: {
      initial: 'one',
      invoke: { src: 'loader', onDone: 'c', onError: { target: '.two' } },
      states: { one: { on: { NEXT: 'two', BACK: '#custom' } }, two: { type: 'final' }, hist: { type: 'history' } },
      onDone: 'c',
    },
    c: { always: [{ guard: 'done', target: 'a' }] },
  },
});
