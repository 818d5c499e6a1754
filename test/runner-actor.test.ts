/**
 * The ChartRunner (src/runner.ts) next to XState's own Actor, on small charts: what the observers hear,
 * in what order, and the status at the end must be the same.
 */
import { describe, expect, it } from 'vitest';
import { assign, createActor, createMachine, raise, SimulatedClock, type AnyStateMachine, type EventObject } from 'xstate';
import { ChartRunner } from '../src/runner.js';

interface Ref {
  send(event: EventObject): void;
  start(): unknown;
  stop(): unknown;
  getSnapshot(): { status: string; value: unknown; context: unknown };
  subscribe(observer: { next(s: never): void; error(e: unknown): void; complete(): void }): unknown;
}

function heard(ref: Ref): string[] {
  const log: string[] = [];
  ref.subscribe({
    next: (s: { value: unknown; context: unknown }) => log.push(`next ${JSON.stringify(s.value)} ${JSON.stringify(s.context)}`),
    error: (e) => log.push(`error ${(e as Error).message}`),
    complete: () => log.push('complete'),
  });
  return log;
}

/** Runs `script` on an actor and on a runner of `machine`; returns both logs (with the final status). */
function both(machine: AnyStateMachine, script: (ref: Ref, clock: SimulatedClock) => void): [string[], string[]] {
  const logs: string[][] = [];
  for (const kind of ['actor', 'runner'] as const) {
    const clock = new SimulatedClock();
    const ref = (
      kind === 'actor'
        ? createActor(machine, { clock, systemId: 'x' })
        : new ChartRunner(machine, { input: undefined, clock, systemId: 'x', causes: { note() {} } })
    ) as unknown as Ref;
    const log = heard(ref);
    script(ref, clock);
    log.push(`status ${ref.getSnapshot().status}`);
    logs.push(log);
  }
  return logs as [string[], string[]];
}

describe('ChartRunner next to an Actor', () => {
  it('an initial entry action that sends to itself: the initial snapshot is heard first', () => {
    const machine = createMachine({
      context: { n: 0 },
      initial: 'a',
      states: {
        a: { entry: ({ self }) => self.send({ type: 'go' }), on: { go: 'b' } },
        b: { entry: assign({ n: 1 }) },
      },
    });
    const [actor, runner] = both(machine, (ref) => ref.start());
    expect(runner).toEqual(actor);
  });

  it('an action that throws: error heard, status error', () => {
    const machine = createMachine({
      initial: 'a',
      states: {
        a: {
          on: {
            boom: {
              actions: () => {
                throw new Error('boom');
              },
            },
          },
        },
      },
    });
    const [actor, runner] = both(machine, (ref) => {
      ref.start();
      ref.send({ type: 'boom' });
      ref.send({ type: 'after' });
    });
    expect(runner).toEqual(actor);
  });

  it('stop() from an action: nothing after it is processed', () => {
    let self: Ref | null = null;
    const machine = createMachine({
      context: { n: 0 },
      initial: 'a',
      states: {
        a: {
          on: {
            tick: { actions: assign({ n: ({ context }) => context.n + 1 }) },
            halt: { actions: [() => self!.stop(), raise({ type: 'tick' })] },
          },
        },
      },
    });
    const [actor, runner] = both(machine, (ref) => {
      self = ref;
      ref.start();
      ref.send({ type: 'tick' });
      ref.send({ type: 'halt' });
      ref.send({ type: 'tick' });
    });
    expect(runner).toEqual(actor);
  });

  it('delayed events: after, delayed raise, cancel by id', () => {
    const machine = createMachine({
      context: { n: 0 },
      initial: 'a',
      states: {
        a: {
          entry: raise({ type: 'late' }, { delay: 300, id: 'late' }),
          after: { 1000: 'b' },
          on: {
            late: { actions: assign({ n: ({ context }) => context.n + 1 }) },
            nevermind: { actions: ({ self }) => (self as unknown as { system: { scheduler: { cancel(s: unknown, id: string): void } } }).system.scheduler.cancel(self, 'late') },
          },
        },
        b: { type: 'final' },
      },
    });
    const [actor, runner] = both(machine, (ref, clock) => {
      ref.start();
      clock.increment(500);
      ref.send({ type: 'nevermind' });
      clock.increment(600);
    });
    expect(runner).toEqual(actor);
  });

  it('an initial entry action that throws: error heard at start', () => {
    const machine = createMachine({
      initial: 'a',
      states: {
        a: {
          entry: () => {
            throw new Error('no start');
          },
        },
      },
    });
    const [actor, runner] = both(machine, (ref) => {
      ref.start();
      ref.send({ type: 'after' });
    });
    expect(runner).toEqual(actor);
  });

  it('stop() from an observer, with events waiting', () => {
    const machine = createMachine({
      context: { n: 0 },
      initial: 'a',
      states: { a: { on: { tick: { actions: assign({ n: ({ context }) => context.n + 1 }) } } } },
    });
    const [actor, runner] = both(machine, (ref) => {
      ref.subscribe({
        next: (s: { context: { n: number } }) => {
          if (s.context.n === 1) {
            ref.send({ type: 'tick' });
            ref.stop();
          }
        },
        error: () => {},
        complete: () => {},
      });
      ref.start();
      ref.send({ type: 'tick' });
      ref.send({ type: 'tick' });
    });
    expect(runner).toEqual(actor);
  });
});
