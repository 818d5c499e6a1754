/**
 * State graph → ELK graph → positioned chart. The conversions are pure; the
 * layout itself is elkjs (the engine Stately's tools use): layered,
 * hierarchical (compound states hold their children, edges cross levels),
 * with every coordinate in the root's frame so the SVG needs no transforms.
 *
 * Edge labels are placed here, after ELK, not by ELK: with hierarchy handling
 * the layers span the whole chart, and ELK turns every label into a node of a
 * layer of its own, so the connection machine's labels made the chart two to
 * three times wider (about 2900 px instead of 1100). Here each label goes to
 * the spot along its own route that overlaps other labels and states the least.
 */
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { StateGraph, StateGraphNode, TransitionKind } from '../definition-graph.js';

export interface Point {
  x: number;
  y: number;
}

export interface ChartNode {
  readonly id: string;
  readonly key: string;
  readonly kind: StateGraphNode['type'];
  readonly region: boolean;
  readonly compound: boolean;
  /** 0 for the machine. */
  readonly depth: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** The dot an initial state's arrow starts from. */
export interface ChartMarker {
  readonly id: string;
  /** The compound state whose initial child it points to. */
  readonly parent: string;
  readonly x: number;
  readonly y: number;
  readonly size: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ChartEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  /** `initial` for the arrow from an initial marker. */
  readonly kind: TransitionKind | 'initial';
  /** One line per transition between the same two states. */
  readonly labels: readonly string[];
  /** Start, bend points, end. */
  readonly points: readonly Point[];
  /** Where the label box goes (null for unlabelled arrows). */
  readonly label: Rect | null;
  /** The point on the route a label placed away from it belongs to (a leader line joins them). */
  readonly leader: Point | null;
}

export interface ChartLayout {
  /** The box holding every node, arrow and label (it may start below 0). */
  readonly bounds: Rect;
  readonly nodes: readonly ChartNode[];
  readonly markers: readonly ChartMarker[];
  readonly edges: readonly ChartEdge[];
}

/** Text width in pixels; the page measures with a canvas, tests estimate. */
export type MeasureText = (text: string, role: 'state' | 'compound' | 'edge') => number;

/** What this module needs of elkjs. */
export interface ElkLike {
  layout(graph: ElkNode): Promise<ElkNode>;
}

/** Which way the chart flows. */
export type ChartDirection = 'DOWN' | 'RIGHT';

export const CHART_METRICS = {
  stateHeight: 30,
  statePaddingX: 14,
  minStateWidth: 56,
  compoundPadding: { top: 30, left: 14, bottom: 14, right: 14 },
  markerSize: 10,
  edgeLineHeight: 13,
  edgeLabelPadding: 3,
  /** Height of a compound state's title strip (kept clear of edge labels). */
  compoundTitle: 24,
} as const;

/** For the whole graph (ELK reads these from the root). */
const ROOT_OPTIONS: Record<string, string> = {
  'elk.algorithm': 'layered',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  // Network simplex costs twice as much here for the same picture.
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
};

/** Spacing is read per parent node, so every compound state gets these too. */
const SPACING_OPTIONS: Record<string, string> = {
  'elk.layered.spacing.nodeNodeBetweenLayers': '48',
  'elk.spacing.nodeNode': '24',
  'elk.spacing.edgeNode': '12',
  'elk.spacing.edgeEdge': '8',
  'elk.layered.spacing.edgeNodeBetweenLayers': '12',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '7',
};

const MARKER_SUFFIX = '#initial';

interface DrawnEdge {
  id: string;
  source: string;
  target: string;
  kind: TransitionKind | 'initial';
  labels: string[];
}

/** Longer labels than this put their guard on a line of its own. */
const WRAP_AT = 24;

/** `trigger [guard]` on one line, or on two when it is long. */
function labelLines(edge: { label: string; trigger: string; guard: string | null }): string[] {
  if (edge.guard === null || edge.label.length <= WRAP_AT) return [edge.label];
  return [edge.trigger, `[${edge.guard}]`];
}

/** Transitions between the same two states share one arrow; targetless ones are not drawn. */
function drawnEdges(graph: StateGraph): DrawnEdge[] {
  const byPair = new Map<string, DrawnEdge>();
  for (const edge of graph.edges) {
    if (edge.target === null) continue;
    const pair = `${edge.source}->${edge.target}`;
    const existing = byPair.get(pair);
    if (existing === undefined) {
      byPair.set(pair, { id: `e${byPair.size}`, source: edge.source, target: edge.target, kind: edge.kind, labels: labelLines(edge) });
    } else {
      for (const line of labelLines(edge)) if (!existing.labels.includes(line) || line.startsWith('[')) existing.labels.push(line);
    }
  }
  const edges = [...byPair.values()];
  for (const node of graph.nodes) {
    if (node.initial !== null) {
      edges.push({ id: `i${edges.length}`, source: node.id + MARKER_SUFFIX, target: node.initial, kind: 'initial', labels: [] });
    }
  }
  return edges;
}

/**
 * The node an edge belongs to in ELK's hierarchy: the source when the target
 * lies inside it, the target when the source lies inside it, else the
 * deepest state holding both.
 */
function containerOf(source: string, target: string, parents: Map<string, string | null>, rootId: string): string {
  const ancestors = (id: string): string[] => {
    const chain: string[] = [];
    for (let current: string | null | undefined = id; current != null; current = parents.get(current)) chain.push(current);
    return chain;
  };
  const sourceChain = ancestors(source);
  const targetChain = ancestors(target);
  if (source !== target && targetChain.includes(source)) return source;
  if (source !== target && sourceChain.includes(target)) return target;
  const sourceParents = new Set(sourceChain.slice(1));
  return targetChain.slice(1).find((id) => sourceParents.has(id)) ?? rootId;
}

/** Builds the ELK input: compound nodes for compound and parallel states, a marker node per initial state. */
export function toElkGraph(graph: StateGraph, measure: MeasureText, direction: ChartDirection = 'DOWN'): ElkNode {
  const m = CHART_METRICS;
  const elkNodes = new Map<string, ElkNode>();
  const parents = new Map<string, string | null>();
  const padding = `[top=${m.compoundPadding.top},left=${m.compoundPadding.left},bottom=${m.compoundPadding.bottom},right=${m.compoundPadding.right}]`;
  const root: ElkNode = {
    id: '__root',
    layoutOptions: { ...ROOT_OPTIONS, ...SPACING_OPTIONS, 'elk.direction': direction },
    children: [],
    edges: [],
  };

  for (const node of graph.nodes) {
    const compound = graph.nodes.some((other) => other.parent === node.id);
    const labelWidth = measure(node.key, compound ? 'compound' : 'state');
    const elkNode: ElkNode = compound
      ? {
          id: node.id,
          children: [],
          edges: [],
          layoutOptions: {
            ...SPACING_OPTIONS,
            'elk.direction': direction,
            'elk.padding': padding,
            'elk.nodeSize.constraints': 'MINIMUM_SIZE',
            'elk.nodeSize.minimum': `(${Math.ceil(labelWidth + m.compoundPadding.left * 2 + 40)}, 60)`,
          },
        }
      : {
          id: node.id,
          width: Math.max(m.minStateWidth, Math.ceil(labelWidth + m.statePaddingX * 2)),
          height: m.stateHeight,
        };
    elkNodes.set(node.id, elkNode);
    parents.set(node.id, node.parent);
    const parentElk = node.parent === null ? root : elkNodes.get(node.parent);
    parentElk?.children?.push(elkNode);
    if (node.initial !== null) {
      const marker: ElkNode = { id: node.id + MARKER_SUFFIX, width: m.markerSize, height: m.markerSize };
      elkNode.children?.push(marker);
      parents.set(marker.id, node.id);
    }
  }

  for (const edge of drawnEdges(graph)) {
    const elkEdge: ElkExtendedEdge = { id: edge.id, sources: [edge.source], targets: [edge.target] };
    const container = containerOf(edge.source, edge.target, parents, graph.machineId);
    const holder = elkNodes.get(container) ?? root;
    holder.edges ??= [];
    holder.edges.push(elkEdge);
  }
  return root;
}

/** Reads ELK's output back into a chart (coordinates are absolute: see `elk.json.*Coords`) and places the labels. */
export function fromElkLayout(graph: StateGraph, laidOut: ElkNode, measure: MeasureText): ChartLayout {
  const info = new Map(graph.nodes.map((node) => [node.id, node]));
  const nodes: ChartNode[] = [];
  const markers: ChartMarker[] = [];
  const edgeMeta = new Map(drawnEdges(graph).map((edge) => [edge.id, edge]));
  const routed: Array<{ meta: DrawnEdge; points: Point[]; label: Rect | null }> = [];

  const visit = (elk: ElkNode) => {
    for (const child of elk.children ?? []) {
      const node = info.get(child.id);
      if (node !== undefined) {
        nodes.push({
          id: node.id,
          key: node.key,
          kind: node.type,
          region: node.region,
          compound: (child.children?.length ?? 0) > 0,
          depth: node.path.length,
          x: child.x ?? 0,
          y: child.y ?? 0,
          width: child.width ?? 0,
          height: child.height ?? 0,
        });
      } else if (child.id.endsWith(MARKER_SUFFIX)) {
        markers.push({
          id: child.id,
          parent: child.id.slice(0, -MARKER_SUFFIX.length),
          x: child.x ?? 0,
          y: child.y ?? 0,
          size: child.width ?? CHART_METRICS.markerSize,
        });
      }
      visit(child);
    }
    for (const edge of elk.edges ?? []) {
      const meta = edgeMeta.get(edge.id);
      if (meta === undefined) continue;
      const points: Point[] = [];
      for (const section of edge.sections ?? []) {
        points.push(section.startPoint, ...(section.bendPoints ?? []), section.endPoint);
      }
      const elkLabel = edge.labels?.[0];
      const label =
        elkLabel?.x === undefined || elkLabel.y === undefined
          ? null
          : { x: elkLabel.x, y: elkLabel.y, width: elkLabel.width ?? 0, height: elkLabel.height ?? 0 };
      routed.push({ meta, points, label });
    }
  };
  visit(laidOut);

  const labels = placeLabels(routed, nodes, markers, measure);
  const edges: ChartEdge[] = routed.map(({ meta, points }, index) => ({
    id: meta.id,
    source: meta.source,
    target: meta.target,
    kind: meta.kind,
    labels: meta.labels,
    points,
    label: labels[index]?.rect ?? null,
    leader: labels[index]?.leader ?? null,
  }));
  const bounds = boundsOf([
    { x: 0, y: 0, width: laidOut.width ?? 0, height: laidOut.height ?? 0 },
    ...labels.flatMap((label) => (label === null ? [] : [label.rect])),
  ]);
  return { bounds, nodes, markers, edges };
}

/** The size of a label box for these lines. */
export function labelSize(lines: readonly string[], measure: MeasureText): { width: number; height: number } {
  const m = CHART_METRICS;
  const widest = lines.reduce((max, line) => Math.max(max, measure(line, 'edge')), 0);
  return { width: Math.ceil(widest + m.edgeLabelPadding * 2), height: lines.length * m.edgeLineHeight + m.edgeLabelPadding };
}

function boundsOf(rects: readonly Rect[]): Rect {
  let minX = 0;
  let minY = 0;
  let maxX = 0;
  let maxY = 0;
  for (const rect of rects) {
    minX = Math.min(minX, rect.x);
    minY = Math.min(minY, rect.y);
    maxX = Math.max(maxX, rect.x + rect.width);
    maxY = Math.max(maxY, rect.y + rect.height);
  }
  return { x: minX, y: minY, width: maxX - minX, height: maxY - minY };
}

function overlap(a: Rect, b: Rect): number {
  const width = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const height = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return width > 0 && height > 0 ? width * height : 0;
}

/** A label box, and the point of its route it belongs to when it is not right beside it. */
export interface PlacedLabel {
  rect: Rect;
  leader: Point | null;
}

/** Where along a route to try a label first: the middle, then outwards. */
const FRACTIONS = [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.12, 0.88, 0.05, 0.95];

/**
 * Places each labelled edge's label at the candidate spot along its route
 * that overlaps other labels, states and compound titles the least (states
 * and labels weigh more than the lines of other edges, which are not counted).
 * Greedy, biggest labels first: they have the fewest good spots.
 */
export function placeLabels(
  routed: ReadonlyArray<{ meta: { labels: readonly string[] }; points: readonly Point[]; label?: Rect | null }>,
  nodes: readonly ChartNode[],
  markers: readonly ChartMarker[],
  measure: MeasureText,
): Array<PlacedLabel | null> {
  const gap = 3;
  const obstacles: Array<{ rect: Rect; weight: number }> = [];
  for (const node of nodes) {
    if (!node.compound) obstacles.push({ rect: { x: node.x - 2, y: node.y - 2, width: node.width + 4, height: node.height + 4 }, weight: 6 });
    else {
      const title = measure(node.key, 'compound') + (node.kind === 'parallel' ? 60 : 16);
      obstacles.push({ rect: { x: node.x, y: node.y, width: title + CHART_METRICS.compoundPadding.left, height: CHART_METRICS.compoundTitle }, weight: 2 });
    }
  }
  for (const marker of markers) obstacles.push({ rect: { x: marker.x - 2, y: marker.y - 2, width: marker.size + 4, height: marker.size + 4 }, weight: 2 });

  // Labels placed before stay where they are.
  const placed: Array<PlacedLabel | null> = routed.map((edge) => (edge.label == null ? null : { rect: edge.label, leader: null }));
  for (const label of placed) if (label !== null) obstacles.push({ rect: label.rect, weight: 5 });
  const order = routed
    .map((edge, index) => ({ edge, index, size: labelSize(edge.meta.labels, measure) }))
    .filter(({ edge, index }) => placed[index] === null && edge.meta.labels.length > 0 && edge.points.length >= 2)
    .sort((a, b) => b.size.height * b.size.width - a.size.height * a.size.width);

  for (const { edge, index, size } of order) {
    let best: PlacedLabel | null = null;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const candidate of candidates(edge.points, size, gap)) {
      let score = 0;
      for (const obstacle of obstacles) score += overlap(candidate.rect, obstacle.rect) * obstacle.weight;
      if (score < bestScore) {
        best = candidate;
        bestScore = score;
        if (score === 0) break;
      }
    }
    if (best !== null) {
      placed[index] = best;
      obstacles.push({ rect: best.rect, weight: 5 });
    }
  }
  return placed;
}

interface Anchor {
  x: number;
  y: number;
  vertical: boolean;
}

/** Points at each of `FRACTIONS` of a route's length, with the direction of the segment there. */
function anchorsOf(points: readonly Point[]): Anchor[] {
  const lengths: number[] = [];
  let total = 0;
  for (let index = 1; index < points.length; index++) {
    const a = points[index - 1] as Point;
    const b = points[index] as Point;
    const length = Math.abs(b.x - a.x) + Math.abs(b.y - a.y);
    lengths.push(length);
    total += length;
  }
  const anchors: Anchor[] = [];
  for (const fraction of FRACTIONS) {
    let remaining = total * fraction;
    for (let index = 0; index < lengths.length; index++) {
      const length = lengths[index] as number;
      if (remaining > length && index < lengths.length - 1) {
        remaining -= length;
        continue;
      }
      const a = points[index] as Point;
      const b = points[index + 1] as Point;
      const t = length === 0 ? 0 : remaining / length;
      anchors.push({ x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t, vertical: Math.abs(b.x - a.x) < Math.abs(b.y - a.y) });
      break;
    }
  }
  return anchors;
}

/**
 * Label boxes along a route, nearest first: beside a vertical segment or
 * above and below a horizontal one (centred, starting or ending at the
 * point), then on the line itself, then one and two rows farther out.
 */
function* candidates(points: readonly Point[], size: { width: number; height: number }, gap: number): Generator<PlacedLabel> {
  const { width, height } = size;
  const anchors = anchorsOf(points);
  for (const ring of [0, 1, 2]) {
    for (const { x, y, vertical } of anchors) {
      const leader = ring === 0 ? null : { x, y };
      if (vertical) {
        const shift = ring * (CHART_METRICS.minStateWidth + gap);
        for (const top of [y - height / 2, y - height, y]) {
          yield { rect: { x: x + gap + shift, y: top, width, height }, leader };
          yield { rect: { x: x - gap - width - shift, y: top, width, height }, leader };
        }
      } else {
        const shift = ring * (CHART_METRICS.stateHeight + gap);
        for (const left of [x - width / 2, x, x - width]) {
          yield { rect: { x: left, y: y - gap - height - shift, width, height }, leader };
          yield { rect: { x: left, y: y + gap + shift, width, height }, leader };
        }
      }
      if (ring === 0) yield { rect: { x: x - width / 2, y: y - height / 2, width, height }, leader: null };
    }
  }
}

/** Lays a graph out with ELK. */
export async function layoutChart(graph: StateGraph, elk: ElkLike, measure: MeasureText, direction: ChartDirection = 'DOWN'): Promise<ChartLayout> {
  return fromElkLayout(graph, await elk.layout(toElkGraph(graph, measure, direction)), measure);
}
