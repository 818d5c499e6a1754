/**
 * Machine definition → Mermaid `stateDiagram-v2` text. Pure: it draws the
 * machine's own config, walked by `chart-walk.ts` (the walk the inspector page
 * draws from too, held to the runtime's state nodes by its tests), so the
 * diagram cannot drift from the chart. `npm run diagram -- --write` puts the
 * result in the README; `test/readme.test.ts` fails while that copy is stale.
 */
import type { AnyStateMachine } from 'xstate';
import { guardText, walkChart, type ChartDescription, type ChartState } from './chart-walk.js';

export interface MermaidOptions {
  /**
   * Guards that only drop noise, such as events from a replaced socket:
   * `not <guard>` is left out of labels (and out of an `and(...)`). A dropped
   * event changes nothing, so the words would only repeat on every arrow.
   * @default ['isStale']
   */
  filterGuards?: readonly string[];
}

/** One drawn arrow: every transition from `source` to `target`. */
interface Arrow {
  source: ChartState;
  target: ChartState;
  labels: string[];
}

/** The chart's states by id, and each state's children in definition order. */
interface Tree {
  root: ChartState;
  byId: Map<string, ChartState>;
  children: Map<string, ChartState[]>;
}

const INDENT = '  ';
const DEFAULT_FILTER_GUARDS: readonly string[] = ['isStale'];

/**
 * Renders a machine as a Mermaid `stateDiagram-v2`.
 *
 * - Compound states become composite states with a `[*]` arrow to their
 *   initial child; a parallel state separates its regions with `--`.
 * - Transitions are labelled `event [guard]`; delayed ones `after delayName [guard]`;
 *   eventless ones `always [guard]`; a state's `onDone` reads `done`, an
 *   invoked actor's `done: src` and `error: src`. An unguarded candidate after guarded ones
 *   is labelled `[else]`. Combined guards read `not a`, `a and b`, `a or b`.
 * - Transitions between the same two states share one arrow, one label per line.
 * - A guarded candidate with neither target nor actions only swallows events:
 *   it is left out (see also `filterGuards`).
 * - Other transitions without a target (actions only, or an unguarded
 *   candidate that swallows an event) would be self-loops on nearly every
 *   state; they are listed in a `%%` comment at the top instead, which Mermaid
 *   does not draw. Re-entering self-transitions are drawn.
 *
 * State ids are paths joined with `_` (`errored_waiting`), since Mermaid ids
 * are global and keys repeat; each state is labelled with its key. The output
 * depends only on the definition and follows its order.
 *
 * @example
 * ```ts
 * import { connectionMachine } from 'statesocket';
 * import { toMermaid } from './src/inspect/mermaid.js';
 *
 * console.log(toMermaid(connectionMachine)); // stateDiagram-v2 …
 * ```
 * @returns the diagram without a Markdown fence, ending in a newline
 */
export function toMermaid(machine: AnyStateMachine, options: MermaidOptions = {}): string {
  const chart = walkChart(machine.config);
  const tree = treeOf(chart);
  const { arrows, actionsOnly } = sortTransitions(chart, tree, new Set(options.filterGuards ?? DEFAULT_FILTER_GUARDS));

  const lines = ['stateDiagram-v2'];
  if (actionsOnly.size > 0) {
    lines.push(`${INDENT}%% Handled without a change of state:`);
    for (const [state, labels] of actionsOnly) {
      const where = state === tree.root ? `${state.key} (any state)` : state.path.join('.');
      lines.push(`${INDENT}%%   ${where}: ${labels.join(', ')}`);
    }
  }
  writeBlock(tree.root, 1, tree, arrows, lines);
  return `${lines.join('\n')}\n`;
}

// ── sorting the transitions ────────────────────────────────────────────────

function treeOf(chart: ChartDescription): Tree {
  const byId = new Map(chart.states.map((state) => [state.id, state]));
  const children = new Map<string, ChartState[]>();
  for (const state of chart.states) {
    if (state.parent === null) continue;
    const siblings = children.get(state.parent);
    if (siblings === undefined) children.set(state.parent, [state]);
    else siblings.push(state);
  }
  // The walk always yields the root first.
  return { root: chart.states[0] as ChartState, byId, children };
}

/**
 * Sorts every transition into an arrow, keyed by the state whose block it is
 * written in, or into the labels of its state's actions-only comment.
 */
function sortTransitions(
  chart: ChartDescription,
  tree: Tree,
  filterGuards: ReadonlySet<string>,
): { arrows: Map<ChartState, Arrow[]>; actionsOnly: Map<ChartState, string[]> } {
  const arrows = new Map<ChartState, Arrow[]>();
  const actionsOnly = new Map<ChartState, string[]>();
  /** Candidate lists (state and trigger) in which a guarded candidate came before. */
  const guarded = new Set<string>();

  for (const transition of chart.transitions) {
    if (transition.internal && transition.actions.length === 0 && transition.guard !== null) continue;
    const source = tree.byId.get(transition.source) as ChartState;
    const candidates = `${transition.source}|${transition.kind}|${transition.trigger}`;
    const guard = transition.guard === null ? null : guardText(transition.guard, filterGuards);
    const label = `${transition.trigger}${guard !== null ? ` [${guard}]` : guarded.has(candidates) ? ' [else]' : ''}`;
    if (guard !== null) guarded.add(candidates);
    if (transition.internal) {
      const labels = actionsOnly.get(source);
      if (labels === undefined) actionsOnly.set(source, [label]);
      else if (!labels.includes(label)) labels.push(label);
      continue;
    }
    for (const targetId of transition.targets) {
      const target = tree.byId.get(targetId) as ChartState;
      const block = enclosingBlock(source, target, tree);
      let list = arrows.get(block);
      if (list === undefined) {
        list = [];
        arrows.set(block, list);
      }
      const arrow = list.find((item) => item.source === source && item.target === target);
      if (arrow === undefined) list.push({ source, target, labels: [label] });
      else if (!arrow.labels.includes(label)) arrow.labels.push(label);
    }
  }
  return { arrows, actionsOnly };
}

/**
 * The state whose block an arrow is written in: the deepest state that
 * strictly contains both ends and is not parallel (a parallel block holds only
 * its regions). Blocks list their states before their arrows, so Mermaid never
 * meets a state first in an arrow, where it would place it in the wrong composite.
 */
function enclosingBlock(source: ChartState, target: ChartState, tree: Tree): ChartState {
  const parentOf = (state: ChartState) => (state.parent === null ? undefined : tree.byId.get(state.parent));
  const holdsTarget = new Set<ChartState>();
  for (let state = parentOf(target); state !== undefined; state = parentOf(state)) holdsTarget.add(state);
  let block = parentOf(source);
  while (block !== undefined && (!holdsTarget.has(block) || block.type === 'parallel')) block = parentOf(block);
  return block ?? tree.root;
}

// ── writing Mermaid ────────────────────────────────────────────────────────

function idOf(state: ChartState): string {
  return state.path.map((key) => key.replace(/[^A-Za-z0-9_]/g, '_')).join('_');
}

/** `state "key" as id`, or the bare id when the two are the same. */
function declaration(state: ChartState): string {
  const id = idOf(state);
  const name = state.type === 'history' ? `${state.key} (history)` : state.key;
  return id === name ? id : `state "${name}" as ${id}`;
}

/** Writes the inside of a composite state: initial arrow, child states (regions for a parallel state), then arrows. */
function writeBlock(state: ChartState, depth: number, tree: Tree, arrows: Map<ChartState, Arrow[]>, lines: string[]): void {
  const pad = INDENT.repeat(depth);
  const initial = state.initial === null ? undefined : tree.byId.get(state.initial);
  if (initial !== undefined) lines.push(`${pad}[*] --> ${idOf(initial)}`);
  const children = tree.children.get(state.id) ?? [];
  children.forEach((child, index) => {
    if (state.type === 'parallel' && index > 0) lines.push(`${pad}--`);
    const declared = declaration(child);
    if (!tree.children.has(child.id)) {
      lines.push(`${pad}${declared}`);
    } else {
      // Mermaid opens a composite only after the `state` keyword.
      lines.push(`${pad}${declared.startsWith('state ') ? declared : `state ${declared}`} {`);
      writeBlock(child, depth + 1, tree, arrows, lines);
      lines.push(`${pad}}`);
    }
    if (child.type === 'final') lines.push(`${pad}${idOf(child)} --> [*]`);
  });
  for (const arrow of arrows.get(state) ?? []) {
    const label = arrow.labels.map((text) => text.replace(/[\n;]/g, ' ')).join('<br/>');
    lines.push(`${pad}${idOf(arrow.source)} --> ${idOf(arrow.target)} : ${label}`);
  }
}
