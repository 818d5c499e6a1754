/**
 * Users and permissions on `createSyncServer`: `authenticate` and `authorize` (guarded: a throw
 * refuses), token expiry and refresh, re-authorization after `auth`, presence permission, and
 * version 1 sessions under an ACL (4403, `ERR_PUBLISH_FORBIDDEN`, 4419 at the expiry).
 */
import { describe, expect, it } from 'vitest';
import { aclHooks, parseAcl } from '../../src/server/acl.js';
import type { SyncServerOptions } from '../../src/server/sync-server.js';
import { testSyncServer, type Frame } from '../support/sync-server.js';

function setup(options: SyncServerOptions = {}) {
  const { clock, server } = testSyncServer(options);
  const connect = (urlToken: string | null = null) => {
    const frames: Frame[] = [];
    const closes: Array<{ code: number; reason: string }> = [];
    const session = server.connect({ send: (t) => frames.push(JSON.parse(t) as Frame), close: (code, reason) => closes.push({ code, reason }), bufferedAmount: 0 }, { urlToken });
    const c = {
      frames,
      closes,
      send(frame: unknown) {
        session.receive(JSON.stringify(frame));
        return c;
      },
      take() {
        return frames.splice(0);
      },
    };
    return c;
  };
  return { clock, server, connect };
}

const ACL = parseAcl({
  tokens: [
    { token: 'ann', user: 'ann', info: { name: 'Ann' } },
    { token: 'ann-short', user: 'ann', expiresAt: 1_010_000 },
    { token: 'ann-narrow', user: 'ann', scope: ['public/*'] },
    { token: 'bob', user: 'bob' },
  ],
  channels: [
    { pattern: 'public/*', subscribe: ['*'], publish: ['ann'], presence: ['ann'] },
    { pattern: 'default', subscribe: ['ann'], publish: ['ann'], presence: [] },
  ],
});

describe('authenticate and authorize', () => {
  it('names the user in welcome and members, with the info of the token', () => {
    const { connect } = setup(aclHooks(ACL));
    const a = connect('ann').send({ type: 'hello', v: 2, client: 'a1' });
    expect(a.take()[0]).toMatchObject({ type: 'welcome', user: 'ann' });
    a.send({ type: 'subscribe', channel: 'public/room', presence: true });
    expect(a.take().at(-1)).toEqual({ type: 'presence', channel: 'public/room', members: [{ client: 'a1', user: 'ann', info: { name: 'Ann' }, joinedAt: expect.any(Number) }] });
  });

  it('refuses presence where the token may not use it, keeping the subscription', () => {
    const { connect } = setup(aclHooks(ACL));
    const b = connect('bob').send({ type: 'hello', v: 2, client: 'b1' });
    b.take();
    b.send({ type: 'subscribe', channel: 'public/room', presence: true });
    expect(b.take().map((f) => f.code ?? f.type)).toEqual(['snapshot', 'synced', 'ERR_PRESENCE_FORBIDDEN']);
  });

  it('names who was refused: the user, or the connection on a server without per-user tokens', () => {
    const named = setup(aclHooks(ACL)).connect('bob').send({ type: 'hello', v: 2, client: 'b1' });
    named.take();
    named.send({ type: 'subscribe', channel: 'default' });
    expect(named.take()).toEqual([expect.objectContaining({ type: 'unsubscribed', code: 'ERR_CHANNEL_FORBIDDEN', message: 'user "bob" may not subscribe to default' })]);

    const anonymous = setup({ authorize: ({ channel }) => channel !== 'secret' }).connect().send({ type: 'hello', v: 2, client: 'a1' });
    anonymous.take();
    anonymous.send({ type: 'subscribe', channel: 'secret' });
    expect(anonymous.take()).toEqual([expect.objectContaining({ code: 'ERR_CHANNEL_FORBIDDEN', message: 'this connection (no user) may not subscribe to secret' })]);
  });

  it('treats a hook that throws as a refusal, never a dead server', () => {
    const { connect } = setup({
      authenticate: (token) => {
        if (token === 'boom') throw new Error('database down');
        return { user: token };
      },
      authorize: ({ channel }) => {
        if (channel === 'boom') throw new Error('policy bug');
        return true;
      },
    });
    const a = connect('boom').send({ type: 'hello', v: 2, client: 'a1' });
    expect(a.closes).toEqual([{ code: 4401, reason: 'invalid token' }]);
    const b = connect('bob').send({ type: 'hello', v: 2, client: 'b1' });
    b.take();
    b.send({ type: 'subscribe', channel: 'boom' });
    expect(b.take()[0]).toMatchObject({ type: 'unsubscribed', code: 'ERR_CHANNEL_FORBIDDEN' });
  });

  it.each([
    ['a user of 129 characters', { user: 'u'.repeat(129) }],
    ['info that is not JSON', { user: 'ann', info: { n: 1n } }],
    ['info that is an array', { user: 'ann', info: [] }],
    ['an expiry that is not a number', { user: 'ann', expiresAt: 'soon' }],
  ])('counts an identity with %s as a wrong token (4401)', (_what, identity) => {
    const { connect } = setup({ authenticate: () => identity as never });
    const a = connect('t').send({ type: 'hello', v: 2, client: 'a1' });
    expect(a.closes).toEqual([{ code: 4401, reason: 'invalid token' }]);
  });

  it('closes an expired token with 4419, at connect and at the expiry; refresh comes before it', () => {
    const { clock, connect } = setup({ ...aclHooks(ACL), refreshBeforeMs: 4000 });
    const a = connect().send({ type: 'hello', v: 2, client: 'a1', token: 'ann-short' });
    expect(a.take()).toEqual([expect.objectContaining({ type: 'welcome', expiresAt: 1_010_000, expiresInMs: 10_000 })]);
    clock.advance(6000);
    expect(a.take()).toEqual([{ type: 'refresh', expiresAt: 1_010_000, expiresInMs: 4000 }]);
    clock.advance(4000);
    expect(a.closes).toEqual([{ code: 4419, reason: expect.stringMatching(/expired/) }]);
    const late = connect().send({ type: 'hello', v: 2, client: 'a1', token: 'ann-short' });
    expect(late.closes).toEqual([{ code: 4419, reason: expect.any(String) }]);
  });

  it('sends refresh at once when less than refreshBeforeMs is left at the welcome', () => {
    const { connect } = setup({ ...aclHooks(ACL), refreshBeforeMs: 60_000 });
    const a = connect('ann-short').send({ type: 'hello', v: 2, client: 'a1' });
    expect(a.take().map((f) => f.type)).toEqual(['welcome', 'refresh']);
  });

  it('re-checks every held channel after auth: one no longer allowed is refused alone', () => {
    const { clock, connect } = setup(aclHooks(ACL));
    const a = connect('ann-short').send({ type: 'hello', v: 2, client: 'a1' });
    a.send({ type: 'subscribe', channel: 'default' }).send({ type: 'subscribe', channel: 'public/x' });
    a.take();
    a.send({ type: 'auth', token: 'ann-narrow' });
    expect(a.take()).toEqual([
      { type: 'authorized', user: 'ann' },
      { type: 'unsubscribed', channel: 'default', code: 'ERR_CHANNEL_FORBIDDEN', message: expect.any(String) },
    ]);
    clock.advance(20_000); // past the first token's expiry: the new one has none
    expect(a.closes).toEqual([]);
  });

  it.each([
    ['a wrong token', 'nobody', 4401],
    ['another user', 'bob', 4401],
  ])('closes an auth with %s with %i', (_what, token, code) => {
    const { connect } = setup(aclHooks(ACL));
    const a = connect('ann').send({ type: 'hello', v: 2, client: 'a1' });
    a.send({ type: 'auth', token });
    expect(a.closes[0]?.code).toBe(code);
  });

  it('closes a connection flooding auth frames with 1013 (each re-checks every held channel)', () => {
    const { clock, connect } = setup({ ...aclHooks(ACL), maxHellosPerMinute: 3 });
    const a = connect('ann').send({ type: 'hello', v: 2, client: 'a1' });
    for (let i = 0; i < 3; i++) a.send({ type: 'auth', token: 'ann' });
    clock.advance(60_000);
    for (let i = 0; i < 3; i++) a.send({ type: 'auth', token: 'ann' });
    expect(a.closes).toEqual([]);
    a.send({ type: 'auth', token: 'ann' });
    expect(a.closes).toEqual([{ code: 1013, reason: expect.stringMatching(/too many auth frames/) }]);
  });

  it('answers auth with authorized {user: null} on a server without tokens', () => {
    const { connect } = setup();
    const a = connect().send({ type: 'hello', v: 2, client: 'a1' });
    a.take();
    a.send({ type: 'auth', token: 'anything' });
    expect(a.take()).toEqual([{ type: 'authorized', user: null }]);
  });
});

describe('hooks that return a promise (an async function from plain JavaScript)', () => {
  const asyncAuthenticate = (async (token: string) => ({ user: token })) as never;
  const rejectingAuthorize = (() => Promise.reject(new Error('policy service down'))) as never;

  it('closes with 1011, not 4401, and reports a HookResultError once per hook', () => {
    const errors: Error[] = [];
    const { connect, server } = setup({ authenticate: asyncAuthenticate, onError: (error) => errors.push(error) });
    const byHello = connect().send({ type: 'hello', v: 2, client: 'a1', token: 'ann' });
    const byUrl = connect('ann');
    const v1 = connect().send({ type: 'hello', v: 1, token: 'ann' });
    for (const c of [byHello, byUrl, v1]) {
      expect(c.closes).toEqual([{ code: 1011, reason: 'server misconfigured: the authenticate hook returned a promise' }]);
      expect(c.frames).toEqual([]);
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ name: 'HookResultError', code: 'ERR_HOOK_RESULT', hook: 'authenticate', message: expect.stringMatching(/must return an identity or null synchronously/) });
    expect(server.counters.authFailures).toBe(0);
  });

  it('closes with 1011, not a forbidden channel, when authorize returns a promise, and leaves its rejection handled', async () => {
    const errors: Error[] = [];
    const { connect, server } = setup({ authenticate: (token) => ({ user: token }), authorize: rejectingAuthorize, onError: (error) => errors.push(error) });
    const a = connect('ann').send({ type: 'hello', v: 2, client: 'a1' });
    a.take();
    a.send({ type: 'subscribe', channel: 'room' });
    expect(a.take()).toEqual([]);
    expect(a.closes).toEqual([{ code: 1011, reason: 'server misconfigured: the authorize hook returned a promise' }]);
    expect(errors.map((e) => (e as { hook?: string }).hook)).toEqual(['authorize']);
    expect(server.counters.subscribesRefused).toBe(0);
    expect(server.counters.subscriptions).toBe(0);
    // The rejected promise was handled: vitest fails the run on an unhandled rejection.
    await new Promise((resolve) => setImmediate(resolve));
  });

  it('reports to console.error by default', () => {
    const logged: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.join(' '));
    try {
      const { connect } = setup({ authenticate: asyncAuthenticate });
      connect('ann');
    } finally {
      console.error = original;
    }
    expect(logged).toEqual([expect.stringMatching(/^statesocket server: the authenticate hook returned a promise/)]);
  });
});

describe('version 1 sessions under an ACL', () => {
  it('closes a version 1 session whose token may not subscribe to default with 4403', () => {
    const { connect } = setup(aclHooks(ACL));
    const b = connect().send({ type: 'hello', v: 1, token: 'bob' });
    expect(b.closes).toEqual([{ code: 4403, reason: expect.stringMatching(/default/) }]);
  });

  it('refuses a version 1 op the token may not publish with ERR_PUBLISH_FORBIDDEN and its id', () => {
    const acl = parseAcl({ tokens: [{ token: 'bob', user: 'bob' }], channels: [{ pattern: 'default', subscribe: ['*'], publish: [], presence: [] }] });
    const { server, connect } = setup(aclHooks(acl));
    const b = connect().send({ type: 'hello', v: 1, token: 'bob' });
    b.take();
    b.send({ type: 'op', id: 'o1', set: { a: 1 } });
    expect(b.take()).toEqual([{ type: 'error', code: 'ERR_PUBLISH_FORBIDDEN', message: expect.any(String), id: 'o1' }]);
    expect(server.data()).toEqual({});
  });

  it('closes a version 1 session with 4419 at its token expiry', () => {
    const { clock, connect } = setup(aclHooks(ACL));
    const a = connect().send({ type: 'hello', v: 1, token: 'ann-short' });
    expect(a.take().map((f) => f.type)).toEqual(['snapshot']);
    clock.advance(10_000);
    expect(a.closes).toEqual([{ code: 4419, reason: 'token expired' }]);
  });
});
