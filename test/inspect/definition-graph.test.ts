import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.js';
import { activeStateIds, definitionToGraph, describeStateValue, triggerOfEvent, type StateGraph } from '../../src/inspect/definition-graph.js';
import { runtimeStates, runtimeTransitions, sampleMachine } from '../support/chart-reference.js';
import { capturedDefinition } from '../support/inspection.js';

function guardName(guard: unknown): string {
  if (guard === undefined) return '';
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return `${guard.name}(…)`; // and(), or(), not(): the definition keeps only the name
  return String((guard as { type?: unknown }).type);
}

/** `source | trigger | guard | target` for every transition of the machine's resolved state nodes, one per target. */
function referenceTransitions(): string[] {
  return runtimeTransitions(connectionMachine)
    .flatMap(({ source, trigger, guard, targets }) =>
      (targets.length === 0 ? ['-'] : targets).map((target) => `${source} | ${trigger} | ${guardName(guard)} | ${target}`),
    )
    .sort();
}

function graphTransitions(graph: StateGraph): string[] {
  return graph.edges.map((edge) => `${edge.source} | ${edge.trigger} | ${edge.guard ?? ''} | ${edge.target ?? '-'}`).sort();
}

describe('definition → graph', () => {
  describe('the connection machine, as @statelyai/inspect sends it', () => {
    it('has every state, with its kind, parent and initial child', async () => {
      const graph = definitionToGraph(await capturedDefinition(60));
      expect(graph).not.toBeNull();
      const expected = runtimeStates(connectionMachine).map((node) => ({
        id: node.id,
        kind: node.type,
        parent: node.parent?.id ?? null,
        initial: node.type === 'compound' ? (node.initial?.target[0]?.id ?? null) : null,
      }));
      const actual = graph?.nodes.map((node) => ({ id: node.id, kind: node.type, parent: node.parent, initial: node.initial }));
      expect(actual).toEqual(expect.arrayContaining(expected));
      expect(actual).toHaveLength(expected.length);
      expect(graph?.problems).toEqual([]);
    });

    it('has every transition, including always and after, with its event, delay name, guard and target', async () => {
      const graph = definitionToGraph(await capturedDefinition(60)) as StateGraph;
      expect(graphTransitions(graph)).toEqual(referenceTransitions());
    });

    it('labels delayed transitions with the delay name, not xstate.after.* events', async () => {
      const graph = definitionToGraph(await capturedDefinition(60)) as StateGraph;
      const labels = graph.edges.map((edge) => edge.label);
      expect(labels).toContain('after connectTimeout');
      expect(labels).toContain('after reconnectDelay');
      expect(labels).toContain('heartbeat.checked [isPongOverdue]');
      expect(labels).toContain('heartbeat.checked [hasInboundSincePing]');
      expect(labels.some((label) => label.includes('xstate.after'))).toBe(false);
      const always = graph.edges.filter((edge) => edge.kind === 'always');
      expect(always.map((edge) => `${edge.label} → ${edge.target}`)).toEqual([
        'always [isOffline] → connection.errored.offline',
        'always [hasAttemptsLeft] → connection.errored',
        'always → connection.closed',
        'always [hasHeartbeat] → connection.session.open.heartbeat.waiting',
        'always → connection.session.open.heartbeat.off',
      ]);
    });

    it('marks the regions of the parallel state', async () => {
      const graph = definitionToGraph(await capturedDefinition(60)) as StateGraph;
      const regions = graph.nodes.filter((node) => node.region).map((node) => node.key);
      expect(regions.sort()).toEqual(['flow', 'heartbeat', 'stability']);
      expect(graph.nodes.find((node) => node.id === 'connection.session.open')?.type).toBe('parallel');
    });

    it('reports what a shallow serialization (the stock depth limit of 10) cut off', async () => {
      const graph = definitionToGraph(await capturedDefinition(10)) as StateGraph;
      expect(graph.problems.length).toBeGreaterThan(0);
      for (const problem of graph.problems) expect(problem).toMatch(/cut by the serializer \(raise serializationDepthLimit\)$/);
      expect(graph.edges.length).toBeLessThan(referenceTransitions().length);
      expect(graph.edges.every((edge) => edge.target === null || !edge.target.includes('['))).toBe(true);
    });
  });

  describe('target resolution', () => {
    const graph = definitionToGraph(JSON.stringify(sampleMachine.config)) as StateGraph;
    const rows = (id: string) => graph.edges.filter((edge) => edge.source === id).map((edge) => `${edge.label} → ${edge.target ?? '-'}`);

    it('resolves siblings, children, #ids and custom ids', () => {
      expect(rows('m.a')).toEqual(
        expect.arrayContaining(['GO → m.b', 'DEEP → m.b.two', 'SELF → m.a', 'NOOP → -', 'after 1000 ms → m.b', 'after slow [isSlow] → m.b']),
      );
      expect(rows('m.b.one')).toEqual(['NEXT → m.b.two', 'BACK → m.a']);
      expect(graph.nodes.find((node) => node.id === 'm.a')?.customId).toBe('custom');
    });

    it('turns invoke onDone/onError and state onDone into edges', () => {
      expect(rows('m.b')).toEqual(expect.arrayContaining(['done: loader → m.c', 'error: loader → m.b.two', 'done → m.c']));
      expect(rows('m.c')).toEqual(['always [done] → m.a']);
    });

    it('keeps final and history states', () => {
      expect(graph.nodes.find((node) => node.id === 'm.b.two')?.type).toBe('final');
      expect(graph.nodes.find((node) => node.id === 'm.b.hist')?.type).toBe('history');
    });

    it('reports a target that does not exist instead of failing', () => {
      const broken = definitionToGraph({ id: 'x', initial: 'a', states: { a: { on: { GO: 'nowhere' } } } }) as StateGraph;
      expect(broken.problems).toEqual(['x.a: target "nowhere" of GO does not exist']);
      expect(broken.edges).toEqual([]);
    });

    it('returns null for the definitions of actors that are not machines, and for non-JSON', () => {
      expect(definitionToGraph('{"id":"socket"}')).toBeNull();
      expect(definitionToGraph('not json')).toBeNull();
      expect(definitionToGraph(42)).toBeNull();
    });
  });

  describe('snapshot values', () => {
    const graph = definitionToGraph(JSON.stringify(connectionMachine.config)) as StateGraph;

    it('names the active states, ancestors included', () => {
      expect(activeStateIds(graph, { errored: 'waiting' })).toEqual(['connection', 'connection.errored', 'connection.errored.waiting']);
      expect(activeStateIds(graph, { session: { open: { flow: 'flowing', heartbeat: 'off', stability: 'settling' } } })).toEqual([
        'connection',
        'connection.session',
        'connection.session.open',
        'connection.session.open.flow',
        'connection.session.open.flow.flowing',
        'connection.session.open.heartbeat',
        'connection.session.open.heartbeat.off',
        'connection.session.open.stability',
        'connection.session.open.stability.settling',
      ]);
      expect(activeStateIds(graph, { nowhere: 'x' })).toEqual(['connection']);
    });

    it('reads a delayed event as the label of its edge', () => {
      expect(triggerOfEvent('xstate.after.reconnectDelay.connection.errored.waiting')).toBe('after reconnectDelay');
      expect(triggerOfEvent('xstate.after.500.m.a')).toBe('after 500 ms');
      expect(triggerOfEvent('socket.opened')).toBe('socket.opened');
    });

    it('describes a value in one line', () => {
      expect(describeStateValue('idle')).toBe('idle');
      expect(describeStateValue({ errored: 'waiting' })).toBe('errored.waiting');
      expect(describeStateValue({ session: { open: { flow: 'flowing', heartbeat: 'off', stability: 'settling' } } })).toBe(
        'session.open(flow.flowing, heartbeat.off, stability.settling)',
      );
    });
  });
});
