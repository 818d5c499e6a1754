import { describe, expect, it, vi } from 'vitest';
import { isStatesocketError } from '../src/errors.js';
import { createTestConnection } from '../src/testing/index.js';

describe('connecting', () => {
  it('starts in connecting with one socket and sets binaryType', () => {
    const t = createTestConnection({ protocols: ['v1'] });
    expect(t.connection.getStatus().state).toBe('connecting');
    expect(t.sockets.all).toHaveLength(1);
    expect(t.socket.binaryType).toBe('arraybuffer');
    expect(t.socket.protocols).toEqual(['v1']);
    t.connection.stop();
  });

  it('works through detached methods (destructured, or passed as callbacks)', () => {
    const t = createTestConnection({ autoStart: false });
    const { start, getStatus, subscribe, stop } = t.connection;
    const seen: string[] = [];
    const unsubscribe = subscribe((status) => seen.push(status.state));
    start();
    expect(getStatus().state).toBe('connecting');
    expect(seen).toContain('connecting');
    unsubscribe();
    stop();
    expect(getStatus().state).toBe('closed');
  });

  it('stays idle until start() with autoStart: false', () => {
    const t = createTestConnection({ autoStart: false });
    expect(t.connection.getStatus().state).toBe('idle');
    expect(t.sockets.all).toHaveLength(0);
    t.connection.start();
    expect(t.connection.getStatus().state).toBe('connecting');
    t.connection.stop();
  });

  it('gives up a handshake after connectTimeoutMs and closes that socket', () => {
    const t = createTestConnection({ connectTimeoutMs: 3000 });
    const first = t.socket;
    t.advance(2999);
    expect(t.connection.getStatus().state).toBe('connecting');
    t.advance(1);
    expect(t.connection.getStatus()).toMatchObject({ state: 'errored', lastError: { code: 'ERR_CONNECT_TIMEOUT' } });
    expect(first.terminated).toBe(true);
    expect(first.onopen).toBeNull();
    t.connection.stop();
  });

  it('keeps exactly one live socket across many reconnects', () => {
    const t = createTestConnection();
    for (let i = 0; i < 20; i++) {
      if (i % 3 === 0) t.open();
      if (i % 2 === 0) t.socket.drop();
      else t.advance(10_000);
      t.advance(t.connection.getStatus().nextDelayMs ?? 0);
      expect(t.sockets.live.length).toBeLessThanOrEqual(1);
    }
    t.connection.stop();
    expect(t.sockets.live).toHaveLength(0);
  });

  it('ignores events from a socket that has been replaced', () => {
    const t = createTestConnection();
    t.socket.error();
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    t.open();
    const { socketId } = t.connection.actor.getSnapshot().context;
    t.connection.actor.send({ type: 'socket.closed', socketId: socketId - 1, at: 0, code: 1006, reason: '', wasClean: false });
    t.connection.actor.send({ type: 'message.received', socketId: socketId - 1, at: 0, messages: [{ type: 'snapshot', data: { stale: true } }] });
    expect(t.connection.getStatus().state).toBe('open');
    expect(t.connection.model.getData()).toEqual({});
    t.connection.stop();
  });

  it('detaches the old socket, so a late event from it cannot reach the machine', () => {
    const t = createTestConnection();
    const old = t.socket;
    old.open();
    old.drop();
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    t.open();
    expect(old.onmessage).toBeNull();
    expect(old.onclose).toBeNull();
    t.connection.stop();
  });
});

describe('url providers', () => {
  it('calls a url function for every attempt', () => {
    let n = 0;
    const t = createTestConnection({ url: () => `ws://statesocket.test/?token=t${++n}` });
    t.socket.error();
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    expect(t.sockets.all.map((s) => s.url)).toEqual(['ws://statesocket.test/?token=t1', 'ws://statesocket.test/?token=t2']);
    t.open();
    expect(t.connection.getStatus().url).toBe('ws://statesocket.test/?token=[redacted]');
    t.connection.stop();
  });

  it('waits for an async url provider', async () => {
    const t = createTestConnection({ url: async () => 'ws://statesocket.test/async' });
    expect(t.sockets.all).toHaveLength(0);
    await Promise.resolve();
    await Promise.resolve();
    expect(t.socket.url).toBe('ws://statesocket.test/async');
    t.connection.stop();
  });

  it('turns a rejected url promise into ERR_URL and retries', async () => {
    let calls = 0;
    const t = createTestConnection({
      url: () => (++calls === 1 ? Promise.reject(new Error('token service down')) : 'ws://statesocket.test/'),
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(t.connection.getStatus()).toMatchObject({
      state: 'errored',
      lastError: { code: 'ERR_URL', message: 'url provider rejected: token service down' },
    });
    t.advance(t.connection.getStatus().nextDelayMs ?? 0);
    expect(t.connection.getStatus().state).toBe('connecting');
    expect(t.sockets.all).toHaveLength(1);
    t.connection.stop();
  });

  it('turns a throwing provider or a bad URL into ERR_URL', () => {
    const t = createTestConnection({ url: () => 'http://not-a-websocket/' });
    expect(t.connection.getStatus().lastError).toMatchObject({ code: 'ERR_URL' });
    t.connection.stop();
    const u = createTestConnection({
      url: () => {
        throw new Error('no token');
      },
    });
    expect(u.connection.getStatus().lastError).toEqual({ code: 'ERR_URL', message: 'url provider threw: no token' });
    u.connection.stop();
  });
});

describe('disconnecting', () => {
  it('closes cleanly with the code and reason given and does not reconnect', () => {
    const t = createTestConnection();
    t.open();
    t.connection.disconnect(4000, 'bye');
    expect(t.socket.closeCalls).toEqual([{ code: 4000, reason: 'bye' }]);
    expect(t.connection.getStatus()).toMatchObject({ state: 'closed', lastClose: { code: 4000, reason: 'bye', wasClean: true } });
    t.advance(60_000);
    expect(t.sockets.all).toHaveLength(1);
    expect(t.clock.pendingTimers).toBe(0);
    t.connection.stop();
  });

  it('forces the close when the handshake gets no answer within closeTimeoutMs', () => {
    const t = createTestConnection({ closeTimeoutMs: 2000 });
    t.open();
    t.socket.hangOnClose = true;
    t.connection.disconnect();
    expect(t.socket.terminated).toBe(false);
    t.advance(1999);
    expect(t.socket.terminated).toBe(false);
    t.advance(1);
    expect(t.socket.terminated).toBe(true);
    expect(t.connection.getStatus()).toMatchObject({ state: 'closed', lastClose: { code: 1000, forced: true, wasClean: false } });
    t.connection.stop();
  });

  it('abandons a pending handshake at once', () => {
    const t = createTestConnection();
    t.connection.disconnect();
    expect(t.connection.getStatus().state).toBe('closed');
    expect(t.socket.terminated).toBe(true);
    t.connection.stop();
  });

  it('connects again after connect()', () => {
    const t = createTestConnection();
    t.open();
    t.connection.disconnect();
    t.connection.connect();
    expect(t.connection.getStatus().state).toBe('connecting');
    expect(t.sockets.all).toHaveLength(2);
    t.connection.stop();
  });

  it.each([999, 1001, 1006, 2000, 5000, 3000.5, Number.NaN])('rejects close code %d with RangeError', (code) => {
    const t = createTestConnection();
    expect(() => t.connection.disconnect(code)).toThrow(RangeError);
    expect(t.connection.getStatus().state).toBe('connecting');
    t.connection.stop();
  });

  it('rejects a reason over 123 UTF-8 bytes', () => {
    const t = createTestConnection();
    expect(() => t.connection.disconnect(1000, 'é'.repeat(62))).toThrow(/at most 123 UTF-8 bytes; received 124 bytes/);
    expect(() => t.connection.disconnect(1000, 'x'.repeat(123))).not.toThrow();
    t.connection.stop();
  });
});

describe('stopping', () => {
  it('leaves no timer, socket or render behind', () => {
    const render = vi.fn();
    const t = createTestConnection({ view: { render }, heartbeat: { intervalMs: 1000, timeoutMs: 500 } });
    t.open();
    t.socket.receive({ type: 'snapshot', data: { a: 1 } });
    expect(t.clock.pendingTimers).toBeGreaterThan(0);
    t.connection.stop();
    expect(t.clock.pendingTimers).toBe(0);
    expect(t.sockets.live).toHaveLength(0);
    t.advance(100_000);
    expect(render).not.toHaveBeenCalled();
  });

  it('stops from errored without a pending retry', () => {
    const t = createTestConnection();
    t.socket.error();
    t.connection.stop();
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('refuses use after stop with ERR_STOPPED', () => {
    const t = createTestConnection();
    t.connection.stop();
    let caught: unknown;
    try {
      t.connection.send({ a: 1 });
    } catch (error) {
      caught = error;
    }
    expect(isStatesocketError(caught, 'ERR_STOPPED')).toBe(true);
    expect(() => t.connection.start()).toThrow(/stopped/);
  });
});

describe('network', () => {
  it('parks in errored.offline without spending attempts, and reconnects at once when online', () => {
    const t = createTestConnection();
    t.open();
    t.connection.setOnline(false);
    expect(t.connection.getStatus()).toMatchObject({ state: 'errored', online: false, attempt: 0, nextRetryAt: null, lastError: { code: 'ERR_OFFLINE' } });
    expect(t.connection.actor.getSnapshot().matches({ errored: 'offline' })).toBe(true);
    expect(t.sockets.live).toHaveLength(0);
    t.advance(600_000);
    expect(t.sockets.all).toHaveLength(1);
    t.connection.setOnline(true);
    expect(t.connection.getStatus()).toMatchObject({ state: 'connecting', online: true, attempt: 0 });
    t.connection.stop();
  });

  it('keeps the socket open with closeOnOffline: false, and waits for online if it then dies', () => {
    const t = createTestConnection({ closeOnOffline: false });
    t.open();
    t.connection.setOnline(false);
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', online: false });
    t.socket.drop();
    expect(t.connection.actor.getSnapshot().matches({ errored: 'offline' })).toBe(true);
    t.connection.setOnline(true);
    expect(t.connection.getStatus().state).toBe('connecting');
    t.connection.stop();
  });

  it('moves a pending retry to offline', () => {
    const t = createTestConnection();
    t.socket.error();
    t.connection.setOnline(false);
    expect(t.connection.actor.getSnapshot().matches({ errored: 'offline' })).toBe(true);
    expect(t.clock.pendingTimers).toBe(0);
    t.connection.stop();
  });
});

describe('status and history', () => {
  it('returns the same status object until something changes', () => {
    const t = createTestConnection();
    const a = t.connection.getStatus();
    expect(t.connection.getStatus()).toBe(a);
    t.open();
    const b = t.connection.getStatus();
    expect(b).not.toBe(a);
    expect(b.state).toBe('open');
    t.connection.stop();
  });

  it('notifies subscribers of each change until they unsubscribe', () => {
    const t = createTestConnection();
    const states: string[] = [];
    const unsubscribe = t.connection.subscribe((status) => states.push(status.state));
    t.open();
    t.socket.drop();
    unsubscribe();
    t.advance(10_000);
    expect(states).toEqual(['open', 'errored']);
    t.connection.stop();
  });

  it('records every state entered with time, event and error', () => {
    const t = createTestConnection({ random: () => 0.5 });
    t.advance(100);
    t.open();
    t.socket.drop();
    t.advance(250);
    t.open();
    expect(t.connection.history).toEqual([
      { state: 'idle', at: 0, event: 'xstate.init' },
      { state: 'connecting', at: 0, event: 'client.connect' },
      { state: 'open', at: 100, event: 'socket.opened' },
      { state: 'errored', at: 100, event: 'socket.closed', error: { code: 'ERR_ABNORMAL_CLOSE', closeCode: 1006 } },
      { state: 'connecting', at: 350, event: 'xstate.after.reconnectDelay.connection.errored.waiting' },
      { state: 'open', at: 350, event: 'socket.opened' },
    ]);
    t.connection.stop();
  });

  it('refuses a listener that is not a function, and a network state that is not a boolean, with a TypeError', () => {
    const t = createTestConnection();
    expect(() => t.connection.subscribe('x' as never)).toThrow(TypeError);
    expect(() => t.connection.subscribe(undefined as never)).toThrow(/subscribe takes a function, called with each new status; received undefined/);
    expect(() => t.connection.setOnline('no' as never)).toThrow(/setOnline takes true or false; received "no"/);
    expect(() => t.connection.setOnline(0 as never)).toThrow(TypeError);
    t.open();
    t.socket.drop(); // a status change: no listener was added that could fail on it
    expect(t.connection.getStatus()).toMatchObject({ online: true, lastCallbackError: null });
    t.connection.stop();
  });

  it('bounds the history', () => {
    const t = createTestConnection({ historyLimit: 3 });
    for (let i = 0; i < 5; i++) {
      t.socket.error();
      t.connection.retry();
    }
    expect(t.connection.history).toHaveLength(3);
    expect(t.connection.history.at(-1)?.state).toBe('connecting');
    t.connection.stop();
  });
});

describe('stop and status', () => {
  it('reports closed after stop() and tells subscribers', () => {
    const t = createTestConnection();
    t.open();
    const seen: string[] = [];
    t.connection.subscribe((status) => seen.push(status.state));
    t.connection.stop();
    expect(t.connection.getStatus().state).toBe('closed');
    expect(seen.at(-1)).toBe('closed');
    expect(t.socket.closeCalls).toEqual([{ code: 1000, reason: '' }]);
  });

  /** Where stop() is called from, on an open connection: the facade, a status listener, or model.update. */
  const stopFrom = {
    'a plain call': () => {
      const t = createTestConnection();
      t.open();
      t.connection.stop();
      return t;
    },
    'a status listener': () => {
      const t = createTestConnection();
      t.connection.subscribe((status) => {
        if (status.state === 'open') t.connection.stop();
      });
      t.open();
      return t;
    },
    'model.update': () => {
      const t = createTestConnection({
        model: {
          update: () => t.connection.stop(),
          getData: () => ({}),
        },
      });
      t.open();
      t.socket.receive({ a: 1 });
      return t;
    },
  };

  it.each(Object.keys(stopFrom) as Array<keyof typeof stopFrom>)(
    'ends closed, with history and a 1000 close frame, when stop() comes from %s',
    (from) => {
      const t = stopFrom[from]();
      const socket = t.socket;
      expect(t.connection.getStatus().state).toBe('closed');
      expect(t.connection.actor.getSnapshot().status).toBe('stopped');
      expect(t.connection.history.at(-1)?.state).toBe('closed');
      expect(socket.closeCalls).toEqual([{ code: 1000, reason: '' }]);
      expect(t.sockets.live).toHaveLength(0);
      expect(t.clock.pendingTimers).toBe(0);
      expect(() => t.connection.send({ a: 1 })).toThrow(/stopped/);
    },
  );

  it('ends closed when stop() comes from a listener while connecting or errored', () => {
    for (const when of ['connecting', 'errored'] as const) {
      const t = createTestConnection({ autoStart: false });
      const seen: string[] = [];
      t.connection.subscribe((status) => {
        seen.push(status.state);
        if (status.state === when) t.connection.stop();
      });
      t.connection.start();
      if (when === 'errored') t.socket.error();
      expect(t.connection.getStatus().state).toBe('closed');
      expect(seen.at(-1)).toBe('closed');
      expect(t.connection.history.at(-1)?.state).toBe('closed');
      expect(t.sockets.live).toHaveLength(0);
      expect(t.clock.pendingTimers).toBe(0);
    }
  });

  it('has history agree with the status inside a listener', () => {
    const t = createTestConnection();
    const pairs: Array<[string, string | undefined]> = [];
    t.connection.subscribe((status) => pairs.push([status.state, t.connection.history.at(-1)?.state]));
    t.open();
    t.socket.drop();
    expect(pairs).toEqual([
      ['open', 'open'],
      ['errored', 'errored'],
    ]);
    t.connection.stop();
  });
});
