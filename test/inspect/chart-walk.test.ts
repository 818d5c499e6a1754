import { and, createMachine, not, or, stateIn } from 'xstate';
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.js';
import { guardText, walkChart, type ChartDescription, type ChartGuard, type ChartTransition } from '../../src/inspect/chart-walk.js';
import { runtimeStates, runtimeTransitions, sampleMachine } from '../support/chart-reference.js';
import { capturedDefinition } from '../support/inspection.js';

/** What a serialized definition keeps of a guard: its name only. */
function nameOnly(guard: ChartGuard | null): ChartGuard | null {
  return guard === null ? null : { name: guard.name };
}

/** A transition in one line: `source | trigger | guard | targets`. */
function row(transition: Pick<ChartTransition, 'source' | 'trigger' | 'targets'>, guard: string): string {
  return `${transition.source} | ${transition.trigger} | ${guard} | ${transition.targets.join(', ') || '-'}`;
}

describe('chart walk', () => {
  describe('the connection machine, from machine.config', () => {
    const chart = walkChart(connectionMachine.config);

    it('has every state once, with its type, parent, initial child, tags, entry and exit', () => {
      const expected = runtimeStates(connectionMachine).map((node) => ({
        id: node.id,
        type: node.type,
        parent: node.parent?.id ?? null,
        initial: node.type === 'compound' ? (node.initial.target[0]?.id ?? null) : null,
        tags: [...node.tags],
        // the runtime adds its own raise/cancel actions for `after` timers; the chart names its actions
        entry: node.entry.filter((action) => typeof action === 'string'),
        exit: node.exit.filter((action) => typeof action === 'string'),
      }));
      const actual = chart.states.map(({ id, type, parent, initial, tags, entry, exit }) => ({ id, type, parent, initial, tags, entry, exit }));
      expect(actual).toEqual(expected);
      expect(chart.machineId).toBe('connection');
      expect(chart.problems).toEqual([]);
    });

    it('yields one transition for every transition of the definition, with its trigger, guard and targets', () => {
      const nameOfGuard = (guard: unknown) => (typeof guard === 'function' ? guard.name : String(guard ?? ''));
      const expected = runtimeTransitions(connectionMachine).map((transition) => row(transition, nameOfGuard(transition.guard)));
      const actual = chart.transitions.map((transition) => row(transition, transition.guard?.name ?? ''));
      expect(actual.sort()).toEqual(expected.sort());
      expect(new Set(chart.transitions.map((transition) => transition.id)).size).toBe(chart.transitions.length);
    });

    it('names the delay of every after transition, never the xstate.after.* event', () => {
      const delayed = chart.transitions.filter((transition) => transition.kind === 'after');
      expect(delayed.map((transition) => `${transition.source.replace('connection.', '')}: ${transition.delay}`)).toEqual([
        'session.connecting: connectTimeout',
        'session.open.stability.settling: stableAfter',
        'session.open.heartbeat.waiting: heartbeatInterval',
        'session.open.heartbeat.answered: heartbeatRest',
        'session.open.heartbeat.awaitingPong: heartbeatTimeout',
        'session.open.flow.congested: drainCheck',
        'session.closing: closeTimeout',
        'errored.waiting: reconnectDelay',
        'errored.waiting: reconnectDelay',
      ]);
      for (const transition of delayed) {
        expect(transition.trigger).toBe(`after ${transition.delay}`);
        expect(transition.event).toBeNull();
      }
      expect(JSON.stringify(chart)).not.toContain('xstate.after');
    });

    it('keeps the order of candidates, their actions and the operands of combined guards', () => {
      const closed = chart.transitions.filter((transition) => transition.source === 'connection.session' && transition.event === 'socket.closed');
      expect(closed.map(({ order, guard, targets, actions }) => ({ order, guard, targets, actions }))).toEqual([
        { order: 0, guard: { name: 'isStale' }, targets: [], actions: [] },
        {
          order: 1,
          guard: { name: 'not', operands: [{ name: 'isReconnectableClose' }] },
          targets: ['connection.closed'],
          actions: ['recordClose', 'recordFatalClose'],
        },
        { order: 2, guard: null, targets: ['connection.failing'], actions: ['recordClose', 'recordFailure'] },
      ]);
      expect(guardText(closed[1]?.guard as ChartGuard)).toBe('not isReconnectableClose');
    });

    it('tells internal transitions and self-transitions apart', () => {
      const find = (source: string, trigger: string) =>
        chart.transitions.filter((transition) => transition.source === source && transition.trigger === trigger);
      expect(find('connection', 'client.send')).toMatchObject([{ internal: true, self: false, targets: [], actions: ['enqueue'] }]);
      expect(find('connection.session.open.flow.congested', 'after drainCheck')).toMatchObject([{ internal: false, self: true, reenter: true }]);
      expect(find('connection.session.open.heartbeat.awaitingPong', 'heartbeat.checked').map(({ self, reenter }) => ({ self, reenter }))).toEqual([
        { self: false, reenter: false },
        { self: false, reenter: false },
        { self: true, reenter: true },
      ]);
    });

    it('is plain data: JSON gives back the same chart', () => {
      expect(JSON.parse(JSON.stringify(chart)) as ChartDescription).toEqual(chart);
    });

    it('reads the same chart from the definition an inspected process sends, but for the operands of combined guards', async () => {
      const fromInspection = walkChart(JSON.parse(await capturedDefinition(60)) as object);
      const byId = <T extends { id: string }>(items: readonly T[]) => [...items].sort((a, b) => a.id.localeCompare(b.id));
      expect(byId(fromInspection.states)).toEqual(byId(chart.states));
      const withoutOperands = chart.transitions.map((transition) => ({ ...transition, guard: nameOnly(transition.guard) }));
      expect(byId(fromInspection.transitions)).toEqual(byId(withoutOperands));
      expect(fromInspection.problems).toEqual([]);
    });
  });

  describe('a machine with every kind of transition', () => {
    const chart = walkChart(sampleMachine.config);
    const from = (source: string) => chart.transitions.filter((transition) => transition.source === source);

    it('resolves the targets as the runtime does', () => {
      // (the runtime names done and invoke triggers by their xstate.* events, so only the ends are compared)
      const ends = (transitions: ReadonlyArray<{ source: string; targets: readonly string[] }>) =>
        transitions.map(({ source, targets }) => `${source} → ${targets.join(', ') || '-'}`).sort();
      expect(ends(chart.transitions)).toEqual(ends(runtimeTransitions(sampleMachine)));
      expect(chart.problems).toEqual([]);
    });

    it('writes delays given in milliseconds as such', () => {
      expect(from('m.a').filter((transition) => transition.kind === 'after')).toMatchObject([
        { delay: '1000', trigger: 'after 1000 ms', targets: ['m.b'] },
        { delay: 'slow', trigger: 'after slow', guard: { name: 'isSlow' } },
      ]);
    });

    it('reads done and invoke transitions with the actor they wait for', () => {
      expect(from('m.b').map(({ kind, actor, trigger, targets }) => ({ kind, actor, trigger, targets }))).toEqual([
        { kind: 'done', actor: null, trigger: 'done', targets: ['m.c'] },
        { kind: 'invoke.done', actor: 'loader', trigger: 'done: loader', targets: ['m.c'] },
        { kind: 'invoke.error', actor: 'loader', trigger: 'error: loader', targets: ['m.b.two'] },
      ]);
    });
  });

  describe('combined guards and parallel targets', () => {
    const machine = createMachine({
      id: 'g',
      initial: 'idle',
      states: {
        idle: {
          on: {
            SPLIT: { target: ['#g.both.left.y', '#g.both.right.y'] },
            BOTH: { guard: and(['p', or(['q', not('isStale')])]) },
            INSIDE: { guard: stateIn('#g.both') },
            DROP: { guard: not('isStale') },
          },
        },
        both: {
          type: 'parallel',
          states: { left: { initial: 'x', states: { x: {}, y: {} } }, right: { initial: 'x', states: { x: {}, y: {} } } },
        },
      },
    });
    const chart = walkChart(machine.config);
    const on = (event: string) => chart.transitions.find((transition) => transition.event === event) as ChartTransition;

    it('gives a transition with several targets one entry', () => {
      expect(on('SPLIT').targets).toEqual(['g.both.left.y', 'g.both.right.y']);
    });

    it('writes combined guards, and hides a negated noise guard when asked', () => {
      const guard = (event: string) => on(event).guard as ChartGuard;
      expect(guardText(guard('BOTH'))).toBe('p and (q or not isStale)');
      expect(guardText(guard('BOTH'), new Set(['isStale']))).toBe('p and q');
      expect(guardText(guard('DROP'), new Set(['isStale']))).toBeNull();
      expect(guardText(guard('INSIDE'))).toBe('in "#g.both"');
    });

    it('writes a guard that a serializer cut down to its name', () => {
      expect(guardText({ name: 'not' })).toBe('not(…)');
      expect(guardText({ name: '' })).toBe('inline guard');
    });

    it('marks the regions of a parallel state', () => {
      expect(chart.states.filter((state) => state.region).map((state) => state.id)).toEqual(['g.both.left', 'g.both.right']);
    });
  });

  describe('definitions XState would refuse', () => {
    it('reports a missing target, and a compound state without an initial state', () => {
      const chart = walkChart({ id: 'x', initial: 'a', states: { a: { on: { GO: 'nowhere' } }, b: { states: { one: {} } } } });
      expect(chart.problems).toEqual(['x.b: no initial state', 'x.a: target "nowhere" of GO does not exist']);
      expect(chart.transitions).toEqual([]);
      expect(chart.states.find((state) => state.id === 'x.b')?.initial).toBeNull();
    });
  });
});
