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
