/**
 * Issue 13: every channel's subscription actor shows in the inspector next to its connection.
 * A real connection holding two channels (one refused) against the real server streams to a
 * relay; the page's model (InspectorState) is fed what the relay received, as the relay would.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { InspectorState } from '../../src/inspect/page/inspector-state.js';
import { createChannelProtocol, createConnection } from '../../src/node.js';
import { startSyncServer } from '../../src/server/start.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A stand-in relay: collects the inspection messages of its one source. */
async function relay() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const messages: Array<Record<string, unknown>> = [];
  server.on('connection', (socket) => {
    cleanups.push(() => socket.terminate());
    socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/inspect`, messages };
}

/** Bounded wait on a condition the sockets make true. */
async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (ok()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never saw ${what}`);
}

/** What the relay does to ids before a page sees them: prefixes them with the source's id. */
function asRelayed(message: Record<string, unknown>): Record<string, unknown> {
  const prefixed: Record<string, unknown> = { ...message, relaySourceId: 's1' };
  for (const key of ['sessionId', 'parentId', 'rootId'] as const) {
    if (typeof message[key] === 'string') prefixed[key] = `s1:${message[key] as string}`;
  }
  return prefixed;
}

describe('inspector: channels', () => {
  it('lists each channel:NAME subscription actor as a chart, a child of the connection, in its current state', async () => {
    const target = await relay();
    const server = await startSyncServer({ host: '127.0.0.1', port: 0, authorize: ({ channel }) => !channel.startsWith('admin/') });
    cleanups.push(() => server.close());
    const connection = createConnection({ url: server.url, protocol: createChannelProtocol({ defaultChannel: false }), inspect: { url: target.url } });
    cleanups.push(() => connection.stop());
    const prices = connection.channel('prices');
    const forbidden = connection.channel('admin/audit');
    await until(() => prices.getStatus().live && forbidden.getStatus().state === 'failed', 'prices live and admin/audit failed');
    const subscribedSnapshot = (name: string) => {
      const id = target.messages.find((m) => m.type === '@xstate.actor' && m.name === name)?.sessionId;
      return target.messages.some((m) => m.type === '@xstate.snapshot' && m.sessionId === id && JSON.stringify((m.snapshot as { value?: unknown }).value) === '"subscribed"');
    };
    await until(() => subscribedSnapshot('channel:prices'), "channel:prices' subscribed snapshot at the relay");

    const page = new InspectorState();
    page.apply({ type: 'relay.hello', protocol: 1, sources: [{ id: 's1', connected: true }] });
    for (const message of target.messages) page.apply(asRelayed(message));

    const charts = page.machineActors().map((actor) => ({ name: actor.name, parent: actor.parentId, value: actor.value }));
    const root = page.machineActors().find((actor) => actor.name === 'connection');
    expect(root?.parentId).toBeNull();
    expect(charts).toEqual(
      expect.arrayContaining([
        { name: 'channel:prices', parent: root?.sessionId, value: 'subscribed' },
        { name: 'channel:admin/audit', parent: root?.sessionId, value: 'failed' },
      ]),
    );
    // each child is drawn from its own definition: the subscription chart's states
    const child = page.machineActors().find((actor) => actor.name === 'channel:prices');
    expect(child?.graph?.machineId).toBe('subscription');
    expect(child?.graph?.problems).toEqual([]);
    expect(child?.graph?.nodes.map((node) => node.id)).toEqual(expect.arrayContaining(['subscription.subscribing', 'subscription.subscribed', 'subscription.failed']));
    // the page still selects the connection by itself (roots first)
    expect(page.selected?.name).toBe('connection');
  });
});
