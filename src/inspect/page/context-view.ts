/**
 * The selected machine's context as a collapsible tree (`<details>`), redacted
 * by `contextTree`. What the user opened or closed stays so across updates.
 * Children of a closed branch are only built when it is opened, so a large
 * context costs little until someone looks into it.
 */
import { contextTree, type ContextTreeNode } from '../context-tree.js';
import { h } from './dom.js';

/** Branches with at most this many children start open (besides the root). */
const OPEN_BY_DEFAULT = 6;

export class ContextView {
  private readonly opened = new Set<string>(['context']);
  private readonly closed = new Set<string>();
  private lastContext: unknown = Symbol('none');
  private lastTree: ContextTreeNode | null = null;

  constructor(private readonly container: HTMLElement) {}

  /** Redraws when the context object changed (snapshots carry a new object each time). */
  update(context: unknown): void {
    if (context === this.lastContext) return;
    this.lastContext = context;
    if (context === undefined) {
      this.lastTree = null;
      this.container.replaceChildren(h('p', { class: 'muted' }, 'no context'));
      return;
    }
    const tree = contextTree(context);
    this.lastTree = tree;
    this.container.replaceChildren(this.branch(tree, 0));
  }

  /** The redacted tree last drawn (for the test hook). */
  get tree(): ContextTreeNode | null {
    return this.lastTree;
  }

  private isOpen(node: ContextTreeNode, depth: number): boolean {
    if (this.opened.has(node.path)) return true;
    if (this.closed.has(node.path)) return false;
    return depth === 1 && (node.children?.length ?? 0) <= OPEN_BY_DEFAULT;
  }

  private branch(node: ContextTreeNode, depth: number): HTMLElement {
    if (node.children === undefined) {
      if (node.kind === 'object' || node.kind === 'array') {
        return h('div', { class: 'leaf' }, h('span', { class: 'key' }, node.key), h('span', { class: 'value muted' }, ` ${node.preview} (too deep)`));
      }
      return h('div', { class: 'leaf' }, h('span', { class: 'key' }, node.key), h('span', { class: `value kind-${node.kind}` }, ` ${node.preview}`));
    }
    const details = h('details', { 'data-path': node.path });
    const summary = h('summary', {}, h('span', { class: 'key' }, node.key), h('span', { class: 'value muted' }, ` ${node.preview}`));
    details.append(summary);
    const fill = () => {
      if (details.childElementCount > 1) return;
      for (const child of node.children ?? []) details.append(this.branch(child, depth + 1));
      if (node.omitted > 0) details.append(h('div', { class: 'leaf muted' }, `… ${node.omitted} more`));
    };
    if (this.isOpen(node, depth)) {
      details.open = true;
      fill();
    }
    details.addEventListener('toggle', () => {
      if (details.open) {
        this.opened.add(node.path);
        this.closed.delete(node.path);
        fill();
      } else {
        this.closed.add(node.path);
        this.opened.delete(node.path);
      }
    });
    return details;
  }
}
