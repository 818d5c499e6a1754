import { describe, expect, it } from 'vitest';
import { createTestConnection } from '../src/testing/index.js';

const heartbeat = { intervalMs: 10_000, timeoutMs: 3_000 };

describe('heartbeat', () => {
  it('is off by default', () => {
    const t = createTestConnection();
    t.open();
    t.advance(600_000);
    expect(t.socket.sent).toEqual([]);
    expect(t.connection.getStatus().state).toBe('open');
    t.connection.stop();
  });

  it('pings every intervalMs while answers come', () => {
    const t = createTestConnection({ heartbeat });
    t.open();
    for (let i = 0; i < 3; i++) {
      t.advance(i === 0 ? 10_000 : 9_900);
      expect(t.socket.sent).toHaveLength(i + 1);
      t.advance(100);
      t.socket.receive({ type: 'pong' });
      expect(t.connection.getStatus().state).toBe('open');
    }
    expect(t.socket.sent).toEqual(['{"type":"ping"}', '{"type":"ping"}', '{"type":"ping"}']);
    t.connection.stop();
  });

  it('declares ERR_HEARTBEAT_TIMEOUT and forces the close when nothing arrives for timeoutMs after a ping', () => {
    const t = createTestConnection({ heartbeat: { ...heartbeat, message: 'PING' } });
    t.open();
    t.advance(10_000);
    expect(t.socket.sent).toEqual(['PING']);
    t.advance(2_999);
    expect(t.connection.getStatus().state).toBe('open');
    t.advance(1);
    expect(t.connection.getStatus()).toMatchObject({ state: 'errored', lastError: { code: 'ERR_HEARTBEAT_TIMEOUT' } });
    expect(t.socket.terminated).toBe(true);
    t.connection.stop();
  });

  it('counts any inbound frame as an answer', () => {
    const t = createTestConnection({ heartbeat });
    t.open();
    t.advance(10_000);
    t.socket.receive('not even json');
    t.advance(3_000);
    expect(t.connection.getStatus().state).toBe('open');
    t.connection.stop();
  });

  it('does not time out when throttled timers fire late but the answer came', () => {
    // A background tab: the timeout timer fires a minute late; the pong arrived long before.
    const t = createTestConnection({ heartbeat });
    t.open();
    t.advance(10_000);
    t.clock.jump(10);
    t.socket.receive({ type: 'pong' });
    t.clock.jump(60_000);
    expect(t.connection.getStatus().state).toBe('open');
    t.connection.stop();
  });

  it('waits again when the timer fires before timeoutMs has passed on now()', () => {
    let skew = 0;
    let timers: { now(): number } = { now: () => 0 };
    // now() lags the timer clock by `skew` (a wall clock adjusted backwards)
    const t = createTestConnection({ heartbeat, now: () => timers.now() - skew });
    timers = t.clock;
    t.open();
    t.advance(10_000);
    skew = 1_000;
    t.advance(3_000);
    expect(t.connection.getStatus().state).toBe('open');
    skew = 0;
    t.advance(3_000);
    expect(t.connection.history.at(-1)).toMatchObject({ state: 'errored', at: 16_000, error: { code: 'ERR_HEARTBEAT_TIMEOUT' } });
    t.connection.stop();
  });

  it('keeps pings intervalMs apart when each is answered', () => {
    const t = createTestConnection({ heartbeat });
    t.open();
    const pingTimes: number[] = [];
    for (let i = 0; i < 50_000; i += 100) {
      const before = t.socket.sent.length;
      t.advance(100);
      if (t.socket.sent.length > before) {
        pingTimes.push(t.clock.now());
        t.socket.receive({ type: 'pong' });
      }
    }
    expect(pingTimes).toEqual([10_000, 20_000, 30_000, 40_000, 50_000]);
    t.connection.stop();
  });
});
