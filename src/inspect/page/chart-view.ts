/**
 * Draws a laid-out chart as SVG and lights the active states. Drawing happens
 * once per definition; a snapshot only toggles classes.
 */
import { triggerOfEvent } from '../definition-graph.js';
import { CHART_METRICS, type ChartEdge, type ChartLayout, type ChartNode, type Point } from './layout.js';
import { s } from './dom.js';

const MARGIN = 8;

function pathOf(points: readonly Point[]): string {
  return points.map((point, index) => `${index === 0 ? 'M' : 'L'}${point.x.toFixed(1)} ${point.y.toFixed(1)}`).join(' ');
}

export class ChartView {
  private svg: SVGSVGElement | null = null;
  private readonly stateElements = new Map<string, SVGGElement>();
  private readonly edgeElements = new Map<string, { group: SVGGElement; edge: ChartEdge }>();
  private active = new Set<string>();
  private drawnIds: string[] = [];

  constructor(private readonly container: HTMLElement) {}

  /** Replaces the drawing (null clears it, with a note). */
  draw(layout: ChartLayout | null, note = ''): void {
    this.container.replaceChildren();
    this.stateElements.clear();
    this.edgeElements.clear();
    this.active = new Set();
    this.drawnIds = [];
    this.svg = null;
    if (layout === null) {
      if (note !== '') this.container.append(Object.assign(document.createElement('p'), { className: 'chart-note', textContent: note }));
      return;
    }
    const { bounds } = layout;
    const width = Math.ceil(bounds.width + MARGIN * 2);
    const height = Math.ceil(bounds.height + MARGIN * 2);
    const svg = s('svg', {
      class: 'chart',
      viewBox: `${Math.floor(bounds.x - MARGIN)} ${Math.floor(bounds.y - MARGIN)} ${width} ${height}`,
      width,
      height,
      role: 'img',
      'aria-label': 'statechart',
    });
    svg.append(
      s(
        'defs',
        {},
        s(
          'marker',
          { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
          s('path', { d: 'M0 0 L10 5 L0 10 z', class: 'arrowhead' }),
        ),
        s(
          'marker',
          { id: 'arrow-taken', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
          s('path', { d: 'M0 0 L10 5 L0 10 z', class: 'arrowhead taken' }),
        ),
      ),
    );
    const compounds = s('g', { class: 'compounds' });
    const edges = s('g', { class: 'edges' });
    const labels = s('g', { class: 'edge-labels' });
    const atomics = s('g', { class: 'atomics' });
    svg.append(compounds, edges, atomics, labels);

    const byDepth = [...layout.nodes].sort((a, b) => a.depth - b.depth);
    for (const node of byDepth) {
      const group = node.compound ? this.compoundNode(node) : this.atomicNode(node);
      (node.compound ? compounds : atomics).append(group);
      this.stateElements.set(node.id, group);
      this.drawnIds.push(node.id);
    }
    for (const marker of layout.markers) {
      const r = marker.size / 2;
      compounds.append(s('circle', { class: 'initial', cx: marker.x + r, cy: marker.y + r, r }));
    }
    for (const edge of layout.edges) {
      if (edge.points.length < 2) continue;
      const group = s('g', { class: `edge kind-${edge.kind.replace('.', '-')}`, 'data-edge-id': edge.id });
      group.append(s('path', { d: pathOf(edge.points), 'marker-end': 'url(#arrow)' }));
      edges.append(group);
      this.edgeElements.set(edge.id, { group, edge });
      if (edge.label !== null && edge.labels.length > 0) labels.append(this.edgeLabel(edge));
    }
    this.svg = svg;
    this.container.append(svg);
  }

  private atomicNode(node: ChartNode): SVGGElement {
    const group = s('g', { class: `state atomic kind-${node.kind}`, 'data-state-id': node.id });
    group.append(s('rect', { x: node.x, y: node.y, width: node.width, height: node.height, rx: 8 }));
    if (node.kind === 'final') {
      group.append(s('rect', { class: 'inner', x: node.x + 3, y: node.y + 3, width: node.width - 6, height: node.height - 6, rx: 6 }));
    }
    const label = node.kind === 'history' ? `${node.key} (H)` : node.key;
    group.append(s('text', { x: node.x + node.width / 2, y: node.y + node.height / 2, 'text-anchor': 'middle', 'dominant-baseline': 'central' }, label));
    group.append(s('title', {}, node.id));
    return group;
  }

  private compoundNode(node: ChartNode): SVGGElement {
    const kind = node.region ? 'region' : node.kind;
    const group = s('g', { class: `state compound kind-${kind}`, 'data-state-id': node.id });
    group.append(s('rect', { x: node.x, y: node.y, width: node.width, height: node.height, rx: node.depth === 0 ? 10 : 8 }));
    const title = s('text', { class: 'compound-label', x: node.x + CHART_METRICS.compoundPadding.left - 4, y: node.y + 19 }, node.key);
    if (node.kind === 'parallel') title.append(s('tspan', { class: 'hint' }, '  parallel'));
    group.append(title, s('title', {}, node.id));
    return group;
  }

  private edgeLabel(edge: ChartEdge): SVGGElement {
    const box = edge.label as NonNullable<ChartEdge['label']>;
    const group = s('g', { class: `edge-label kind-${edge.kind.replace('.', '-')}`, 'data-edge-id': edge.id });
    if (edge.leader !== null) {
      // From the box's nearest point to the route point the label belongs to.
      const x = Math.min(Math.max(edge.leader.x, box.x), box.x + box.width);
      const y = Math.min(Math.max(edge.leader.y, box.y), box.y + box.height);
      group.append(s('line', { class: 'leader', x1: x, y1: y, x2: edge.leader.x, y2: edge.leader.y }));
      group.append(s('circle', { class: 'leader', cx: edge.leader.x, cy: edge.leader.y, r: 1.8 }));
    }
    group.append(s('rect', { x: box.x, y: box.y, width: box.width, height: box.height, rx: 3 }));
    const text = s('text', { x: box.x + CHART_METRICS.edgeLabelPadding, y: box.y + CHART_METRICS.edgeLabelPadding / 2 });
    edge.labels.forEach((line, index) => {
      const guard = line.startsWith('[') ? 0 : line.indexOf(' [');
      const tspan = s('tspan', { x: box.x + CHART_METRICS.edgeLabelPadding, dy: index === 0 ? 10.5 : CHART_METRICS.edgeLineHeight });
      if (guard === -1) tspan.textContent = line;
      else tspan.append(line.slice(0, guard), s('tspan', { class: 'guard' }, line.slice(guard)));
      text.append(tspan);
    });
    group.append(text);
    return group;
  }

  /**
   * Lights `activeIds`; `taken` names edges to mark as the last transition
   * (their source was active before, their target is active now).
   */
  highlight(activeIds: readonly string[], taken: readonly string[] = []): void {
    const next = new Set(activeIds);
    for (const id of this.active) if (!next.has(id)) this.stateElements.get(id)?.classList.remove('active');
    for (const id of next) if (!this.active.has(id)) this.stateElements.get(id)?.classList.add('active');
    this.active = next;
    const takenSet = new Set(taken);
    for (const [id, { group }] of this.edgeElements) {
      const isTaken = takenSet.has(id);
      if (group.classList.contains('taken') === isTaken) continue;
      group.classList.toggle('taken', isTaken);
      group.querySelector('path')?.setAttribute('marker-end', isTaken ? 'url(#arrow-taken)' : 'url(#arrow)');
    }
  }

  /**
   * The arrows an event just took: from a state active `before` to a state
   * active `after` that was not (or back to itself), labelled with the event.
   */
  edgesTaken(before: ReadonlySet<string>, after: ReadonlySet<string>, eventType: string): string[] {
    const trigger = triggerOfEvent(eventType);
    const ids: string[] = [];
    for (const [id, { edge }] of this.edgeElements) {
      if (edge.kind === 'initial') continue;
      if (!before.has(edge.source) || !after.has(edge.target)) continue;
      if (before.has(edge.target) && edge.source !== edge.target) continue;
      if (edge.labels.some((label) => label === trigger || label.startsWith(`${trigger} [`))) ids.push(id);
    }
    return ids;
  }

  /** Ids of the states drawn (what the page's test hook reports). */
  drawnStateIds(): string[] {
    return [...this.drawnIds];
  }

  /** Ids of the states drawn lit, read from the DOM. */
  highlightedIds(): string[] {
    if (this.svg === null) return [];
    return [...this.svg.querySelectorAll('.state.active')].map((element) => element.getAttribute('data-state-id') ?? '');
  }

  get size(): { width: number; height: number } | null {
    if (this.svg === null) return null;
    return { width: Number(this.svg.getAttribute('width')), height: Number(this.svg.getAttribute('height')) };
  }

  /** Scales the drawing: `fit` shrinks it to the container's width, `actual` shows it at 100%. */
  setZoom(mode: 'fit' | 'actual'): void {
    this.container.classList.toggle('fit', mode === 'fit');
  }
}
