import ELKModule from 'elkjs/lib/elk.bundled.js';
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.js';
import { definitionToGraph, type StateGraph } from '../../src/inspect/definition-graph.js';
import { layoutChart, toElkGraph, type ChartLayout, type ElkLike, type Rect } from '../../src/inspect/page/layout.js';

// elkjs' default export is typed as a namespace under NodeNext; it is the constructor.
const ELK = ELKModule as unknown as new () => ElkLike;
/** Roughly the page's fonts (the page measures with a canvas). */
const measure = (text: string, role: 'state' | 'compound' | 'edge') => text.length * (role === 'edge' ? 5.6 : 7.4);

const graph = definitionToGraph(JSON.stringify(connectionMachine.config)) as StateGraph;
let cached: ChartLayout | undefined;
async function layout(): Promise<ChartLayout> {
  cached ??= await layoutChart(graph, new ELK(), measure);
  return cached;
}

const inside = (inner: Rect, outer: Rect) =>
  inner.x >= outer.x - 0.5 &&
  inner.y >= outer.y - 0.5 &&
  inner.x + inner.width <= outer.x + outer.width + 0.5 &&
  inner.y + inner.height <= outer.y + outer.height + 0.5;
const overlaps = (a: Rect, b: Rect) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('chart layout (elkjs)', () => {
  it('nests compound states: children inside, markers for initial states', () => {
    const root = toElkGraph(graph, measure);
    const machine = root.children?.[0];
    expect(machine?.id).toBe('connection');
    const session = machine?.children?.find((child) => child.id === 'connection.session');
    expect(session?.children?.map((child) => child.id)).toEqual(expect.arrayContaining(['connection.session#initial', 'connection.session.open']));
  });

  it('places every state inside its parent', async () => {
    const chart = await layout();
    expect(chart.nodes.map((node) => node.id).sort()).toEqual(graph.nodes.map((node) => node.id).sort());
    const byId = new Map(chart.nodes.map((node) => [node.id, node]));
    for (const node of graph.nodes) {
      const drawn = byId.get(node.id);
      expect(drawn?.width).toBeGreaterThan(0);
      if (node.parent !== null) expect(inside(drawn as Rect, byId.get(node.parent) as Rect), `${node.id} inside ${node.parent}`).toBe(true);
    }
    expect(chart.markers).toHaveLength(graph.nodes.filter((node) => node.initial !== null).length);
  }, 20_000);

  it('routes one arrow per pair of states, labelled with every transition between them', async () => {
    const chart = await layout();
    const pairs = new Set(graph.edges.filter((edge) => edge.target !== null).map((edge) => `${edge.source}->${edge.target}`));
    const arrows = chart.edges.filter((edge) => edge.kind !== 'initial');
    expect(arrows.map((edge) => `${edge.source}->${edge.target}`).sort()).toEqual([...pairs].sort());
    for (const edge of chart.edges) expect(edge.points.length, edge.id).toBeGreaterThanOrEqual(2);
    const toClosed = arrows.find((edge) => edge.source === 'connection.session' && edge.target === 'connection.closed');
    expect(toClosed?.labels).toEqual(expect.arrayContaining(['client.disconnect', 'socket.closed']));
    const toFailing = arrows.find((edge) => edge.source === 'connection.session' && edge.target === 'connection.failing');
    expect(toFailing?.labels).toEqual(expect.arrayContaining(['socket.closed', 'socket.errored']));
  }, 20_000);

  it('keeps edge labels off the states', async () => {
    const chart = await layout();
    const states = chart.nodes.filter((node) => !node.compound);
    for (const edge of chart.edges) {
      if (edge.label === null) continue;
      const hit = states.find((state) => overlaps(edge.label as Rect, state));
      expect(hit?.id, `label of ${edge.source} → ${edge.target}`).toBeUndefined();
    }
  }, 20_000);
});
