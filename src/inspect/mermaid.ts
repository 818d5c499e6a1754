/**
 * Machine definition → Mermaid `stateDiagram-v2` text. Pure: it walks the
 * state nodes of the machine object (the definition the runtime uses), so the
 * diagram cannot drift from the chart. `npm run diagram -- --write` puts the
 * result in the README; `test/readme.test.ts` fails while that copy is stale.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

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
  source: AnyStateNode;
  target: AnyStateNode;
  labels: string[];
}

/** Arrows keyed by the state whose block they are written in. */
type ArrowsByBlock = Map<AnyStateNode, Arrow[]>;

/** Labels of one state's transitions that have no target (they run actions, or swallow an event). */
interface Untargeted {
  state: AnyStateNode;
  labels: string[];
}

const INDENT = '  ';
const AFTER_PREFIX = 'xstate.after.';
const DEFAULT_FILTER_GUARDS: readonly string[] = ['isStale'];

/**
 * Renders a machine as a Mermaid `stateDiagram-v2`.
 *
 * - Compound states become composite states with a `[*]` arrow to their
 *   initial child; a parallel state separates its regions with `--`.
 * - Transitions are labelled `event [guard]`; delayed ones `after delayName [guard]`;
 *   eventless ones `always [guard]`. An unguarded candidate after guarded ones
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
  const filterGuards = new Set(options.filterGuards ?? DEFAULT_FILTER_GUARDS);
  const root = machine.root;
  const arrows: ArrowsByBlock = new Map();
  const actionsOnly: Untargeted[] = [];
  collect(root, filterGuards, arrows, actionsOnly);

  const lines = ['stateDiagram-v2'];
  if (actionsOnly.length > 0) {
    lines.push(`${INDENT}%% Handled without a change of state:`);
    for (const { state, labels } of actionsOnly) {
      const where = state === root ? `${root.key} (any state)` : state.path.join('.');
      lines.push(`${INDENT}%%   ${where}: ${labels.join(', ')}`);
    }
  }
  writeBlock(root, 1, arrows, lines);
  return `${lines.join('\n')}\n`;
}

// ── reading the definition ─────────────────────────────────────────────────

function childrenOf(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states) as AnyStateNode[];
}

/** Walks `node` and its descendants, sorting every transition into an arrow or the actions-only list. */
function collect(node: AnyStateNode, filterGuards: Set<string>, arrows: ArrowsByBlock, actionsOnly: Untargeted[]): void {
  const quiet: string[] = [];
  const candidateLists: AnyTransitionDefinition[][] = [...node.transitions.values()];
  if (node.always !== undefined && node.always.length > 0) candidateLists.push(node.always);

  for (const candidates of candidateLists) {
    let guardedBefore = false;
    for (const transition of candidates) {
      const targets = transition.target ?? [];
      if (targets.length === 0 && transition.actions.length === 0 && transition.guard !== undefined) continue;
      const guard = transition.guard === undefined ? null : guardText(transition.guard, filterGuards, false);
      const label = `${triggerText(transition)}${guard !== null ? ` [${guard}]` : guardedBefore ? ' [else]' : ''}`;
      guardedBefore ||= guard !== null;
      if (targets.length === 0) {
        if (!quiet.includes(label)) quiet.push(label);
        continue;
      }
      for (const target of targets) addArrow(arrows, node, target, label);
    }
  }

  if (quiet.length > 0) actionsOnly.push({ state: node, labels: quiet });
  for (const child of childrenOf(node)) collect(child, filterGuards, arrows, actionsOnly);
}

function addArrow(arrows: ArrowsByBlock, source: AnyStateNode, target: AnyStateNode, label: string): void {
  const block = enclosingBlock(source, target);
  let list = arrows.get(block);
  if (list === undefined) {
    list = [];
    arrows.set(block, list);
  }
  const arrow = list.find((item) => item.source === source && item.target === target);
  if (arrow === undefined) list.push({ source, target, labels: [label] });
  else if (!arrow.labels.includes(label)) arrow.labels.push(label);
}

/**
 * The state whose block an arrow is written in: the deepest state that
 * strictly contains both ends and is not parallel (a parallel block holds only
 * its regions). Blocks list their states before their arrows, so Mermaid never
 * meets a state first in an arrow, where it would place it in the wrong composite.
 */
function enclosingBlock(source: AnyStateNode, target: AnyStateNode): AnyStateNode {
  const holdsTarget = new Set<AnyStateNode>();
  for (let node = target.parent; node !== undefined; node = node.parent) holdsTarget.add(node);
  let block = source.parent;
  while (block !== undefined && (!holdsTarget.has(block) || block.type === 'parallel')) block = block.parent;
  return block ?? source.machine.root;
}

/** `event`, `after delayName` or `always`. */
function triggerText(transition: AnyTransitionDefinition): string {
  const eventType = String(transition.eventType);
  if (eventType === '') return 'always';
  const delay: unknown = (transition as { delay?: unknown }).delay;
  if (typeof delay === 'string') return `after ${delay}`;
  if (typeof delay === 'number') return `after ${delay} ms`;
  if (eventType.startsWith(AFTER_PREFIX)) {
    // xstate.after.<delay>.<id of the source state>
    const rest = eventType.slice(AFTER_PREFIX.length);
    const suffix = `.${transition.source.id}`;
    const name = rest.endsWith(suffix) ? rest.slice(0, -suffix.length) : rest;
    return /^\d+$/.test(name) ? `after ${name} ms` : `after ${name}`;
  }
  return eventType;
}

/**
 * A guard as text: its name, or `not a`, `a and b`, `a or b` for the
 * combinators. `not <filter guard>` reads as nothing (null); inside `and` it is dropped.
 */
function guardText(guard: unknown, filterGuards: Set<string>, nested: boolean): string | null {
  if (typeof guard === 'string') return guard;
  if (guard !== null && typeof guard === 'object') {
    return 'type' in guard ? String((guard as { type: unknown }).type) : 'guard';
  }
  if (typeof guard !== 'function') return 'guard';
  // and(), or(), not() and stateIn() are functions carrying their operands.
  const combinator = guard as { name: string; guards?: unknown; stateValue?: unknown };
  const operands = Array.isArray(combinator.guards) ? (combinator.guards as unknown[]) : null;
  if (combinator.name === 'not' && operands?.length === 1) {
    const [operand] = operands;
    if (typeof operand === 'string' && filterGuards.has(operand)) return null;
    return `not ${guardText(operand, filterGuards, true) ?? 'guard'}`;
  }
  if ((combinator.name === 'and' || combinator.name === 'or') && operands !== null) {
    const parts = operands
      .map((operand) => guardText(operand, filterGuards, true))
      .filter((part): part is string => part !== null);
    if (parts.length === 0) return null;
    if (parts.length === 1) return parts[0] ?? null;
    const text = parts.join(` ${combinator.name} `);
    return nested ? `(${text})` : text;
  }
  if (combinator.name === 'stateIn' && combinator.stateValue !== undefined) {
    return `in ${JSON.stringify(combinator.stateValue)}`;
  }
  return combinator.name || 'inline guard';
}

// ── writing Mermaid ────────────────────────────────────────────────────────

function idOf(node: AnyStateNode): string {
  return node.path.map((key: string) => key.replace(/[^A-Za-z0-9_]/g, '_')).join('_');
}

/** `state "key" as id`, or the bare id when the two are the same. */
function declaration(node: AnyStateNode): string {
  const id = idOf(node);
  const name = node.type === 'history' ? `${node.key} (history)` : node.key;
  return id === name ? id : `state "${name}" as ${id}`;
}

/** Writes the inside of a composite state: initial arrow, child states (regions for a parallel state), then arrows. */
function writeBlock(node: AnyStateNode, depth: number, arrows: ArrowsByBlock, lines: string[]): void {
  const pad = INDENT.repeat(depth);
  if (node.type !== 'parallel') {
    for (const initial of node.initial?.target ?? []) lines.push(`${pad}[*] --> ${idOf(initial)}`);
  }
  childrenOf(node).forEach((child, index) => {
    if (node.type === 'parallel' && index > 0) lines.push(`${pad}--`);
    const declared = declaration(child);
    if (childrenOf(child).length === 0) {
      lines.push(`${pad}${declared}`);
    } else {
      // Mermaid opens a composite only after the `state` keyword.
      lines.push(`${pad}${declared.startsWith('state ') ? declared : `state ${declared}`} {`);
      writeBlock(child, depth + 1, arrows, lines);
      lines.push(`${pad}}`);
    }
    if (child.type === 'final') lines.push(`${pad}${idOf(child)} --> [*]`);
  });
  for (const arrow of arrows.get(node) ?? []) {
    const label = arrow.labels.map((text) => text.replace(/[\n;]/g, ' ')).join('<br/>');
    lines.push(`${pad}${idOf(arrow.source)} --> ${idOf(arrow.target)} : ${label}`);
  }
}
