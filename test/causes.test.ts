import { createActor, createMachine, sendTo, type AnyActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { Causes } from '../src/causes.js';
import { createClock } from '../src/clock.js';
import { TestClock } from '../src/testing/index.js';

/** A light that a switch toggles, that goes dark by itself after 100 ms lit, and that a `relay` event reaches through a child. */
const light = createMachine({
  id: 'light',
  initial: 'dark',
  invoke: {
    id: 'relay',
    src: createMachine({ on: { forward: { actions: sendTo(({ system }) => system.get('light'), { type: 'toggle' }) } } }),
  },
  states: {
    dark: { on: { toggle: 'lit' } },
    lit: { on: { toggle: 'dark' }, after: { 100: 'dark' } },
  },
});

/** The light's actor on a test clock, watched by `Causes`; `named` holds the cause given for each snapshot. */
function watchedLight() {
  const causes = new Causes();
  const clock = new TestClock();
  const actor: AnyActor = createActor(light, {
    systemId: 'light',
    clock: createClock(clock, () => {}, (fire) => causes.duringTimer(fire)),
  });
  causes.watch(actor);
  const named: string[] = [];
  actor.subscribe((snapshot) => named.push(`${causes.next()} → ${String(snapshot.value)}`));
  actor.start();
  return { causes, clock, actor, named };
}

describe('causes', () => {
  it('names the event behind each snapshot sent with actor.send, in order', () => {
    const t = watchedLight();
    t.actor.send({ type: 'toggle' });
    t.actor.send({ type: 'toggle' });
    expect(t.named).toEqual(['xstate.init → dark', 'toggle → lit', 'toggle → dark']);
  });

  it('names a delayed event while its timer fires', () => {
    const t = watchedLight();
    t.actor.send({ type: 'toggle' });
    t.clock.advance(100);
    expect(t.named).toEqual(['xstate.init → dark', 'toggle → lit', 'xstate.after.100.light.lit → dark']);
  });

  it('names an event that reaches the actor another way once it is noted', () => {
    const t = watchedLight();
    const relay = t.actor.getSnapshot().children.relay as AnyActor;
    // the relay's toggle reaches the light through XState's relay, not through the light's send: noted here as the socket actor's onEvent notes
    t.causes.note('toggle');
    relay.send({ type: 'forward' });
    expect(t.named).toEqual(['xstate.init → dark', 'toggle → lit']);
  });

  it('says xstate.unknown for a snapshot no event was noted for', () => {
    const t = watchedLight();
    const relay = t.actor.getSnapshot().children.relay as AnyActor;
    relay.send({ type: 'forward' });
    expect(t.named).toEqual(['xstate.init → dark', 'xstate.unknown → lit']);
  });

  it('notes nothing sent to a stopped actor', () => {
    const t = watchedLight();
    t.actor.stop();
    t.causes.note('toggle');
    expect(t.causes.next()).toBe('xstate.unknown');
  });
});
