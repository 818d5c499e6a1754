/**
 * Review of the ChartRunner (src/runner.ts): a user's scenarios run on a connection that never has its
 * actor read and on one whose actor is read at once must look the same (status, history, outbox,
 * Model, frames written, callback errors); reading `connection.actor` must show the runner's state.
 */
import { describe, expect, it } from 'vitest';
import { createStore } from '../src/store.js';
import { createTestConnection } from '../src/testing/test-connection.js';
import { ackingProtocol } from './support/acking-protocol.js';
import { seen, type Twin } from './support/twin.js';

function make(store = createStore()): Twin {
  return createTestConnection({
    model: store,
    protocol: ackingProtocol,
    heartbeat: { intervalMs: 1_000, timeoutMs: 500, message: 'ping' },
  }) as unknown as Twin;
}

/** What a user sees, copied (the views are compared after the connection moved on). */
function seenNow(t: Twin) {
  return structuredClone(seen(t));
}

/** Runs `scenario` twice: never reading the actor, and reading it at once. */
function twins(scenario: (t: Twin, promoteAtOnce: boolean) => void, store = createStore): [unknown, unknown] {
  const views: unknown[] = [];
  for (const atOnce of [false, true]) {
    const t = make(store());
    if (atOnce) t.connection.actor.getSnapshot();
    scenario(t, atOnce);
    views.push(seenNow(t));
  }
  return views as [unknown, unknown];
}

describe('the runner as a user meets it', () => {
  it('stop() from a status listener', () => {
    const [a, b] = twins((t) => {
      t.connection.subscribe((status) => {
        if (status.state === 'open') t.connection.stop();
      });
      t.open();
      t.advance(5_000);
    });
    expect(a).toEqual(b);
    expect((a as { status: { state: string } }).status.state).toBe('closed');
  });

  it('stop() from model.update', () => {
    let conn: Twin | null = null;
    const [a, b] = twins(
      (t) => {
        conn = t;
        t.open();
        t.socket.receive({ a: 1 }, { b: 2 });
        t.advance(5_000);
      },
      () => {
        const store = createStore();
        const update = store.update.bind(store);
        store.update = (message) => {
          update(message);
          conn?.connection.stop();
        };
        return store;
      },
    );
    expect(a).toEqual(b);
  });

  it('model.update that throws', () => {
    const [a, b] = twins(
      (t) => {
        t.open();
        t.socket.receive({ a: 1 }, { b: 2 });
        t.connection.send({ type: 'op', id: 'x' });
        t.advance(5_000);
      },
      () => {
        const store = createStore();
        store.update = () => {
          throw new Error('boom');
        };
        return store;
      },
    );
    expect(a).toEqual(b);
  });

  it('a listener that reads connection.actor mid-transition, then sends', () => {
    const [a, b] = twins((t) => {
      const off = t.connection.subscribe((status) => {
        if (status.state === 'open') {
          off();
          t.connection.actor.getSnapshot();
          t.connection.send({ type: 'op', id: 'in-listener' });
          t.connection.send({ type: 'note' });
        }
      });
      t.open();
      t.socket.receive({ type: 'ack', id: 'in-listener' });
      t.socket.drop();
      t.advance(10_000);
    });
    expect(a).toEqual(b);
  });

  it('connection.actor right after promotion shows the runner snapshot', () => {
    const t = make();
    t.open();
    t.socket.receive({ a: 1 });
    t.connection.send({ type: 'op', id: 'q' });
    const before = (t.connection as unknown as { ref: { getSnapshot(): { status: string; value: unknown; context: unknown } } }).ref.getSnapshot();
    const actor = t.connection.actor;
    const after = actor.getSnapshot();
    expect(after.status).toBe(before.status);
    expect(after.value).toEqual(before.value);
    expect(after.context).toEqual(before.context);
    const heard: string[] = [];
    actor.subscribe((snapshot) => heard.push(JSON.stringify(snapshot.value)));
    t.socket.receive({ type: 'ack', id: 'q' });
    expect(heard.length).toBeGreaterThan(0);
    expect(actor.system.get('connection') ?? actor.system.getAll()).toBeDefined();
    t.connection.stop();
  });

  it('two connections, one driving the other from a listener', () => {
    const views: unknown[] = [];
    for (const atOnce of [false, true]) {
      const one = make();
      const two = make();
      if (atOnce) {
        one.connection.actor.getSnapshot();
        two.connection.actor.getSnapshot();
      }
      one.connection.subscribe((status) => {
        if (status.state === 'open') {
          two.open();
          two.connection.send({ type: 'op', id: 'from-one' });
        }
      });
      two.connection.subscribe((status) => {
        if (status.state === 'open') one.connection.send({ type: 'op', id: 'from-two' });
      });
      one.open();
      one.advance(3_000);
      two.advance(3_000);
      views.push([seenNow(one), seenNow(two)]);
      one.connection.stop();
      two.connection.stop();
    }
    expect(views[0]).toEqual(views[1]);
  });

  it('promoted while the connect timeout is pending: it fires once, at its time', () => {
    const views: unknown[] = [];
    for (const promote of [false, true]) {
      const t = make();
      t.connection.start?.();
      if (promote) t.connection.actor.getSnapshot();
      t.advance(60_000);
      views.push(seenNow(t));
      t.connection.stop();
    }
    expect(views[0]).toEqual(views[1]);
    const history = (views[0] as { history: { error?: { code: string } }[] }).history;
    expect(history.some((entry) => entry.error?.code === 'ERR_CONNECT_TIMEOUT')).toBe(true);
  });
});

describe('the runner as a user meets it: promotion in the middle, throwing protocols, timers', () => {
  const promoteThenStop = (where: 'listener' | 'update') => {
    const views: unknown[] = [];
    for (const atOnce of [false, true]) {
      let t: Twin | null = null;
      const store = createStore();
      if (where === 'update') {
        const update = store.update.bind(store);
        store.update = (message) => {
          update(message);
          t!.connection.actor.getSnapshot();
          t!.connection.send({ type: 'op', id: 'last' });
          t!.connection.stop();
        };
      }
      t = make(store);
      if (atOnce) t.connection.actor.getSnapshot();
      if (where === 'listener') {
        t.connection.subscribe((status) => {
          if (status.state === 'open') {
            t!.connection.actor.getSnapshot();
            t!.connection.send({ type: 'op', id: 'last' });
            t!.connection.stop();
          }
        });
      }
      t.open();
      // (the listener's stop() has closed it)
      if (where === 'update') t.socket.receive({ a: 1 }, { b: 2 });
      t.advance(5_000);
      views.push({ ...seenNow(t), actor: t.connection.actor.getSnapshot().status });
    }
    return views;
  };

  it('a listener that reads connection.actor, sends, then stops', () => {
    const [a, b] = promoteThenStop('listener');
    expect(a).toEqual(b);
  });

  it('model.update that reads connection.actor, sends, then stops', () => {
    const [a, b] = promoteThenStop('update');
    expect(a).toEqual(b);
  });

  for (const broken of ['decode', 'encode'] as const) {
    it(`a protocol whose ${broken} throws`, () => {
      const views: unknown[] = [];
      for (const atOnce of [false, true]) {
        const t = createTestConnection({
          model: createStore(),
          protocol: {
            ...ackingProtocol,
            [broken]: () => {
              throw new Error(`${broken} broke`);
            },
          },
        }) as unknown as Twin;
        if (atOnce) t.connection.actor.getSnapshot();
        t.open();
        t.socket.receive({ a: 1 });
        try {
          t.connection.send({ type: 'op', id: 'a' });
        } catch (error) {
          views.push(String(error));
        }
        t.advance(5_000);
        views.push(seenNow(t));
        t.connection.stop();
      }
      expect(views.slice(0, views.length / 2)).toEqual(views.slice(views.length / 2));
    });
  }

  it('promoted while a congestion drain check is pending: it fires at its time', () => {
    const views: unknown[] = [];
    for (const promote of [false, true]) {
      const t = createTestConnection({ model: createStore(), protocol: ackingProtocol, maxBufferedBytes: 10 }) as unknown as Twin;
      t.open();
      t.socket.bufferedAmount = 100;
      t.connection.send({ type: 'op', id: 'a' });
      t.connection.send({ type: 'op', id: 'b' });
      if (promote) t.connection.actor.getSnapshot();
      t.advance(50);
      t.socket.bufferedAmount = 0;
      views.push(seenNow(t));
      t.advance(1_000);
      views.push(seenNow(t));
      t.connection.stop();
    }
    expect(views.slice(0, 2)).toEqual(views.slice(2));
    expect((views[3] as { written: string[][] }).written[0]!.length).toBeGreaterThan(0);
  });
});

describe('the runner as a user meets it: a greeting (an action of the chart) that reaches the connection', () => {
  for (const what of ['reads the actor and sends', 'reads the actor, sends and stops', 'throws'] as const) {
    it(`a greeting that ${what}`, () => {
      const views: unknown[] = [];
      for (const atOnce of [false, true]) {
        let t: Twin | null = null;
        let calls = 0;
        t = createTestConnection({
          model: createStore(),
          protocol: ackingProtocol,
          greeting: () => {
            calls++;
            if (what === 'throws') throw new Error('no greeting');
            if (calls === 1) {
              t!.connection.actor.getSnapshot();
              t!.connection.send({ type: 'op', id: 'from-greeting' });
              if (what.includes('stops')) t!.connection.stop();
            }
            return [{ type: 'hello' }];
          },
        }) as unknown as Twin;
        if (atOnce) t.connection.actor.getSnapshot();
        t.open();
        if (t.socket.readyState === 1) t.socket.receive({ type: 'ack', id: 'from-greeting' });
        t.advance(3_000);
        views.push({ ...seenNow(t), calls, actor: t.connection.actor.getSnapshot().status });
        t.connection.stop();
      }
      expect(views[0]).toEqual(views[1]);
    });
  }
});

describe('the runner as a user meets it: nesting', () => {
  it("one connection's model.update drives another, which is promoted in the middle", () => {
    const views: unknown[] = [];
    for (const atOnce of [false, true]) {
      let two: Twin | null = null;
      const store = createStore();
      const update = store.update.bind(store);
      store.update = (message) => {
        update(message);
        // inside one's transition: two runs an event, is promoted while one is still busy, and runs another
        two!.connection.send({ type: 'op', id: 'nested-1' });
        two!.connection.actor.getSnapshot();
        two!.connection.send({ type: 'op', id: 'nested-2' });
      };
      const one = make(store);
      two = make();
      if (atOnce) {
        one.connection.actor.getSnapshot();
        two.connection.actor.getSnapshot();
      }
      two.open();
      one.open();
      one.socket.receive({ a: 1 });
      two.socket.receive({ type: 'ack', id: 'nested-1' });
      one.advance(2_000);
      two.advance(2_000);
      views.push([seenNow(one), seenNow(two), one.connection.actor.getSnapshot().status, two.connection.actor.getSnapshot().status]);
      one.connection.stop();
      two.connection.stop();
    }
    expect(views[0]).toEqual(views[1]);
  });
});

describe('the runner as a user meets it: the system right after promotion', () => {
  it("a listener that promotes in the transition that scheduled the retry sees it in the actor's system", () => {
    const views: unknown[] = [];
    for (const atOnce of [false, true]) {
      const t = make();
      if (atOnce) t.connection.actor.getSnapshot();
      let during: string[] = [];
      const off = t.connection.subscribe((status) => {
        if (status.state !== 'errored') return;
        off();
        const system = t.connection.actor.system as unknown as { getSnapshot(): { _scheduledEvents: Record<string, { event: { type: string }; delay: number }> } };
        during = Object.entries(system.getSnapshot()._scheduledEvents).map(([key, entry]) => `${key.replace(/^[^.]*\./, '')} ${entry.event.type} ${entry.delay}`);
      });
      t.open();
      t.socket.drop();
      views.push(during);
      t.connection.stop();
    }
    expect(views[0]).toEqual(views[1]);
    expect(views[0]).toHaveLength(1);
  });
});

describe('the runner as a user meets it: promotion as it stops', () => {
  it("a listener that reads connection.actor on 'closed' sees what an actor shows", () => {
    const views: unknown[] = [];
    for (const atOnce of [false, true]) {
      const t = make();
      if (atOnce) t.connection.actor.getSnapshot();
      let onClosed: unknown = null;
      t.connection.subscribe((status) => {
        if (status.state !== 'closed' || onClosed !== null) return;
        const snapshot = t.connection.actor.getSnapshot();
        onClosed = { status: snapshot.status, value: snapshot.value, context: structuredClone({ ...snapshot.context, config: null }) };
      });
      t.open();
      t.socket.receive({ a: 1 });
      t.connection.stop();
      views.push([seenNow(t), onClosed, t.connection.actor.getSnapshot().status]);
    }
    expect(views[0]).toEqual(views[1]);
    expect((views[0] as unknown[])[2]).toBe('stopped');
  });
});
