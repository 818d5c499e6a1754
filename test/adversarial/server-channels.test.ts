/**
 * Hostile version 2 frames against the reference server (`startSyncServer`, real `ws` on
 * 127.0.0.1), from a raw client that sends what the library's own client never would (hostile
 * review of issue 13). After each attack the connection still answers a `ping`, and whatever
 * the server kept is what docs/protocol.md says.
 */
import { describe, expect, it, vi } from 'vitest';
import { startSyncServer, type RunningServer } from '../../src/server/start.js';
import '../support/cleanup.js';
import { onCleanup } from '../support/cleanup.js';
import { rawClient, type RawClient } from './raw-client.js';

async function serve(options: Parameters<typeof startSyncServer>[0] = {}): Promise<RunningServer> {
  const server = await startSyncServer({ port: 0, host: '127.0.0.1', ...options });
  onCleanup(() => server.close());
  return server;
}

/** A raw client greeted with version 2 as client `id`. */
async function greetedV2(server: RunningServer, id = 'c1'): Promise<RawClient> {
  const client = await rawClient(server.url);
  client.send({ type: 'hello', v: 2, client: id });
  await client.next((f) => f.type === 'welcome', 'the welcome');
  return client;
}

/** The connection still answers a ping (nothing closed it). */
async function expectAlive(client: RawClient): Promise<void> {
  const from = client.frames.length;
  client.send({ type: 'ping' });
  await client.next((f) => f.type === 'pong', 'the pong', from);
  expect(client.close).toBeNull();
}

describe('frames that are JSON but not objects, on a greeted version 2 connection', () => {
  it('answers null, a string, a number, a boolean and an array with ERR_INVALID_FRAME and goes on', async () => {
    const server = await serve();
    const client = await greetedV2(server);
    for (const raw of ['null', '"str"', '12', 'true', '[]']) {
      const from = client.frames.length;
      client.send(raw);
      const answer = await client.next((f) => f.type === 'error', `the answer to ${raw}`, from);
      expect(answer).toMatchObject({ code: 'ERR_INVALID_FRAME', message: expect.stringMatching(/expected a client frame/) });
      await expectAlive(client);
    }
  });
});

describe('an async authenticate hook (plain JavaScript)', () => {
  it('closes the connection with 1011 and says why on stderr, instead of a 4401 that blames the token', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    onCleanup(() => logged.mockRestore());
    const server = await serve({ authenticate: (async (token: string) => ({ user: token })) as never });
    const client = await rawClient(`${server.url}?token=ann`);
    expect(await client.closed()).toEqual({ code: 1011, reason: 'server misconfigured: the authenticate hook returned a promise' });
    expect(logged.mock.calls.map((call) => String(call[0]))).toEqual([expect.stringMatching(/authenticate hook returned a promise .* must return an identity or null synchronously/)]);
  });
});

describe("another user's hello with a client id it saw in presence (per-user tokens)", () => {
  it("closes the newcomer with 4423; the owner's connection stays and its later ops apply", async () => {
    const acl = {
      tokens: [
        { token: 'ann-token', user: 'ann' },
        { token: 'bob-token', user: 'bob' },
      ],
      channels: [{ pattern: '*', subscribe: ['*'], publish: ['*'], presence: ['*'] }],
    };
    const server = await serve({ acl });
    const ann = await rawClient(`${server.url}?token=ann-token`);
    ann.send({ type: 'hello', v: 2, client: 'ann-tab' });
    ann.send({ type: 'subscribe', channel: 'room', presence: true });
    await ann.next((f) => f.type === 'presence', 'the presence list');
    ann.send({ type: 'op', channel: 'room', n: 1, set: { a: 1 } });
    await ann.next((f) => f.type === 'ack' && f.n === 1, 'the first ack');

    const bob = await rawClient(`${server.url}?token=bob-token`);
    bob.send({ type: 'hello', v: 2, client: 'ann-tab' });
    expect(await bob.closed()).toEqual({ code: 4423, reason: 'client id belongs to another user; connect with a fresh client id' });
    expect(bob.frames).toEqual([]);

    const from = ann.frames.length;
    ann.send({ type: 'op', channel: 'room', n: 2, set: { a: 2 } });
    await ann.next((f) => f.type === 'ack' && f.n === 2, 'the second ack', from);
    expect(ann.frames.slice(from).map((f) => f.type)).toEqual(['patch', 'ack']);
    await expectAlive(ann);
  });
});
