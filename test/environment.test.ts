import { describe, expect, it } from 'vitest';
import { createFakeEnvironment, createTestConnection } from '../src/testing/index.js';

function setup(initial: { online?: boolean; hidden?: boolean } = {}) {
  const env = createFakeEnvironment(initial);
  const t = createTestConnection({ environment: env.targets, random: () => 0.5 });
  return { env, t };
}

describe('environment gating', () => {
  it('parks in errored.offline on the offline event and reconnects at once on online', () => {
    const { env, t } = setup();
    t.open();
    env.goOffline();
    expect(t.connection.getStatus()).toMatchObject({ state: 'errored', online: false, lastError: { code: 'ERR_OFFLINE' } });
    expect(t.sockets.live).toHaveLength(0);
    env.goOnline();
    expect(t.connection.getStatus()).toMatchObject({ state: 'connecting', online: true });
    t.connection.stop();
  });

  it('starts from navigator.onLine and visibilityState', () => {
    const { t } = setup({ online: false, hidden: true });
    expect(t.connection.getStatus()).toMatchObject({ online: false, pageHidden: true });
    t.connection.stop();
  });

  it('holds a pending reconnect while the page is hidden and resumes it at once when visible', () => {
    const { env, t } = setup();
    t.open();
    env.hide();
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', pageHidden: true }); // an open socket stays open
    t.socket.drop();
    t.advance(250);
    expect(t.connection.actor.getSnapshot().matches({ errored: 'hidden' })).toBe(true);
    t.advance(600_000);
    expect(t.sockets.all).toHaveLength(1);
    expect(t.clock.pendingTimers).toBe(0);
    env.show();
    expect(t.connection.getStatus()).toMatchObject({ state: 'connecting', pageHidden: false, attempt: 1 });
    t.connection.stop();
  });

  it('closes cleanly on pagehide into the back-forward cache and reopens on pageshow', () => {
    const { env, t } = setup();
    const socket = t.open();
    env.suspend();
    expect(t.connection.actor.getSnapshot().matches({ errored: 'suspended' })).toBe(true);
    expect(socket.closeCalls).toEqual([]); // ws-like fakes are terminated; browsers get close(1000)
    expect(socket.readyState).toBe(3);
    expect(t.clock.pendingTimers).toBe(0);
    env.resume();
    expect(t.connection.getStatus().state).toBe('connecting');
    expect(t.sockets.all).toHaveLength(2);
    t.connection.stop();
  });

  it('does not suspend a close we started', () => {
    const { env, t } = setup();
    t.open();
    t.socket.hangOnClose = true;
    t.connection.disconnect();
    env.suspend();
    expect(t.connection.actor.getSnapshot().matches({ session: 'closing' })).toBe(true);
    t.connection.stop();
  });

  it('stops listening on stop()', () => {
    const { env, t } = setup();
    t.connection.stop();
    env.goOffline();
    expect(t.connection.getStatus().online).toBe(true);
  });

  it('ignores the environment with environment: false', () => {
    const env = createFakeEnvironment();
    const t = createTestConnection({ environment: false });
    t.open();
    env.goOffline();
    expect(t.connection.getStatus().state).toBe('open');
    t.connection.stop();
  });
});
