/**
 * Three real server instances (`startSyncServer`, each with its own Redis engine on one key prefix)
 * and protocol version 2 clients on raw WebSockets: ops sent to one channel through the three
 * instances at once apply exactly once, in one order every client sees, and a client that moves to
 * another instance resumes by replay with its resend answered as a duplicate.
 */
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSyncServer, type RunningServer } from '../../../src/server/index.js';
import { redisTestBed, until } from './redis-support.js';

const bed = redisTestBed('instances');
const servers: RunningServer[] = [];
const sockets: WebSocket[] = [];
afterAll(async () => {
  for (const socket of sockets) socket.terminate();
  for (const server of servers) await server.close();
  await bed.cleanup();
});

type Frame = { type: string; [key: string]: unknown };

/** A raw version 2 client: the frames it got, and a way to wait for one. */
async function client(url: string, id: string) {
  const socket = new WebSocket(url);
  sockets.push(socket);
  const frames: Frame[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const send = (frame: Frame) => socket.send(JSON.stringify(frame));
  send({ type: 'hello', v: 2, client: id });
  await until(() => frames.some((f) => f.type === 'welcome'), 5000, `${id}'s welcome`);
  return {
    frames,
    send,
    close: () => socket.close(),
    patches: () => frames.filter((f) => f.type === 'patch'),
    acks: () => frames.filter((f) => f.type === 'ack').map((f) => f.n as number),
  };
}

describe('three instances on one Redis', () => {
  it('apply ops sent through all three at once exactly once, in one order, and let a client resume on another instance', async () => {
    for (let i = 0; i < 3; i++) servers.push(await startSyncServer({ port: 0, host: '127.0.0.1', engine: await bed.engine() }));
    const clients = await Promise.all(servers.map((server, i) => client(server.url, `client-${i}`)));
    for (const c of clients) c.send({ type: 'subscribe', channel: 'doc' });
    for (const c of clients) await until(() => c.frames.some((f) => f.type === 'synced'), 5000, 'synced');
    const epoch = clients[0]?.frames.find((f) => f.type === 'synced')?.epoch;
    expect(clients.every((c) => c.frames.find((f) => f.type === 'synced')?.epoch === epoch)).toBe(true);

    const perClient = 30;
    for (let n = 1; n <= perClient; n++) {
      clients.forEach((c, i) => c.send({ type: 'op', channel: 'doc', n, set: { [`c${i}-${n}`]: n, last: i } }));
    }
    for (const c of clients) await until(() => c.acks().length === perClient && c.patches().length === 3 * perClient, 10_000, 'every ack and patch');
    const orders = clients.map((c) => c.patches().map((p) => `${p.epoch}:${p.seq}:${JSON.stringify(p.set)}`));
    // Every client saw seqs 1..90 in order, the same change at each seq, and each op once.
    expect(clients[0]?.patches().map((p) => p.seq)).toEqual(Array.from({ length: 3 * perClient }, (_, i) => i + 1));
    expect(orders[1]).toEqual(orders[0]);
    expect(orders[2]).toEqual(orders[0]);
    for (const c of clients) expect(c.acks()).toEqual(Array.from({ length: perClient }, (_, i) => i + 1));

    // client-0 moves to instance 2, resumes by replay from seq 80 and resends its last op.
    clients[0]?.close();
    const moved = await client(servers[2]?.url as string, 'client-0');
    moved.send({ type: 'subscribe', channel: 'doc', epoch, since: 80 });
    moved.send({ type: 'op', channel: 'doc', n: perClient, re: 0, set: { again: true } });
    await until(() => moved.acks().includes(perClient), 5000, 'the duplicate acked');
    expect(moved.patches().map((p) => p.seq)).toEqual([81, 82, 83, 84, 85, 86, 87, 88, 89, 90]);
    expect(moved.frames.find((f) => f.type === 'synced')).toMatchObject({ epoch, seq: 90, mark: perClient });
    expect(moved.frames.some((f) => f.type === 'snapshot')).toBe(false);
  });
});
