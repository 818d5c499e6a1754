/**
 * The resend path end to end, made certain: a TCP relay between a version 2 client and the server
 * process swallows everything the server sends, so ops are applied and their acks lost; then the
 * relay cuts the link, the client reconnects through it and resends, and the server answers every
 * resend as a duplicate. (The control endpoint's faults strike after the acks as often as not.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { channelClient, countingStore, stopV2Connections, waitForChannel } from './channels-support.js';
import { eventually, kill, killAll, startServerProcess, type ServerProcess } from './server-process.js';

const relays: Server[] = [];
const dirs: string[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  stopV2Connections();
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all(relays.splice(0).map((relay) => new Promise((resolve) => relay.close(resolve))));
  await killAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Relay {
  port: number;
  /** Server → client bytes are dropped while true. */
  swallow: boolean;
  /** Destroys every link through the relay. */
  cut(): void;
}

async function relayTo(port: number): Promise<Relay> {
  const links = new Set<Socket>();
  const relay: Relay = { port: 0, swallow: false, cut: () => links.forEach((socket) => socket.destroy()) };
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      links.add(socket);
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => {
        links.delete(socket);
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!relay.swallow) client.write(chunk);
    });
  });
  relays.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as { port: number }).port;
  return relay;
}

async function counters(server: ServerProcess): Promise<Record<string, number>> {
  const response = await fetch(`http://127.0.0.1:${server.port}/control/state?channel=notes`, { headers: { authorization: `Bearer ${server.controlToken}` } });
  return ((await response.json()) as { counters: Record<string, number> }).counters;
}

describe('resending ops whose acks were lost', () => {
  it('applies each op once: the resends after the reconnect are answered as duplicates', async () => {
    const server = await startServerProcess();
    const relay = await relayTo(server.port);
    const client = channelClient(`ws://127.0.0.1:${relay.port}/`, { defaultChannel: false });
    const notes = client.channel('notes', { model: countingStore() });
    await waitForChannel(notes, (s) => s.live, 'notes live');
    const before = await counters(server);

    relay.swallow = true;
    const sends = Array.from({ length: 10 }, (_, i) => notes.send({ set: { [`k${i}`]: i } }));
    await eventually(() => counters(server), (c) => c.opsApplied === before.opsApplied! + 10, 'the ten ops applied, their acks swallowed');
    relay.swallow = false;
    relay.cut();
    await Promise.all(sends);

    const after = await counters(server);
    expect(after.opsApplied! - before.opsApplied!).toBe(10);
    expect(after.opsDuplicate! - before.opsDuplicate!).toBe(10);
    await waitForChannel(notes, (s) => s.live, 'notes live again');
    expect(Object.keys(notes.model.getData()).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`).sort());
    expect([...notes.model.setsOf].filter(([, count]) => count > 1)).toEqual([]);
    // resumed by replay: the patches it missed, not a snapshot
    expect(notes.model.snapshots).toBe(1);
  });

  it('applies each op once across a SIGKILL: the restarted server remembers the marks from its data file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'statesocket-resend-'));
    dirs.push(dir);
    const args = ['--data-file', join(dir, 'data.json')];
    const first = await startServerProcess(args);
    const relay = await relayTo(first.port);
    const client = channelClient(`ws://127.0.0.1:${relay.port}/`, { defaultChannel: false });
    const notes = client.channel('notes', { model: countingStore() });
    await waitForChannel(notes, (s) => s.live, 'notes live');
    const before = await counters(first);

    relay.swallow = true;
    const sends = Array.from({ length: 10 }, (_, i) => notes.send({ set: { [`k${i}`]: i } }));
    await eventually(() => counters(first), (c) => c.opsApplied === before.opsApplied! + 10, 'the ten ops applied, their acks swallowed');
    await kill(first);
    relay.cut();
    relay.swallow = false;
    const second = await startServerProcess(args, first.port);
    await Promise.all(sends);

    const after = await counters(second);
    expect(after.opsApplied).toBe(0);
    expect(after.opsDuplicate).toBe(10);
    await waitForChannel(notes, (s) => s.live, 'notes live again');
    expect(Object.keys(notes.model.getData()).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`).sort());
    expect([...notes.model.setsOf].filter(([, count]) => count > 1)).toEqual([]);
    // the new process is a new epoch: one snapshot more
    expect(notes.model.snapshots).toBe(2);
  });
});
