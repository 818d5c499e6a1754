/**
 * Scenario 9, load side: many version 2 connections from one process, speaking the protocol's
 * frames by hand over raw `ws` sockets (docs/protocol.md): cheap enough that a thousand of them
 * load the server, not this process. Connection g (counted over every load process) holds
 * channels `prefix{(g × perConnection + k) mod channelCount}` for k below `perConnection`.
 *
 * Driven by the parent: opens and greets every connection (`connected`), then on `subscribe`
 * subscribes them all (`subscribed` once every `synced` arrived), on `ops {ratePerSec}` sends ops
 * at that rate round robin over its connections and their channels, each timed to its `ack`,
 * until `ops-stop`; on `flood {window}` keeps `window` ops in flight on every connection (the next
 * one sent as an `ack` comes back: as fast as acks allow) until `flood-stop`, `flood-mark` telling
 * the acks so far with the time; `counts` reports what arrived; `finish` ends it.
 */
import { WebSocket } from 'ws';
import { Counter } from '../lib/counter.js';
import { finish, next, on, send } from '../lib/ipc.js';
import { percentile } from '../lib/stats.js';
import { sleep, wallNow } from '../lib/time.js';
import { helloV2Text, opText, subscribeText } from '../wire.js';

export interface ChannelLoadParams {
  url: string;
  /** Connections in this process. */
  connections: number;
  /** Global index of this process's first connection. */
  first: number;
  perConnection: number;
  channelCount: number;
  prefix: string;
  /** Connections whose handshake is in flight at once (the server takes 64 unupgraded sockets per address). */
  batch: number;
  timeoutMs: number;
}

/** Ops sent per timer tick at most once per this many ms. */
const OPS_TICK_MS = 10;

interface Peer {
  ws: WebSocket;
  channels: string[];
  /** Next op number per channel index. */
  nextN: number[];
  /** The channel index of this connection's next op while flooding. */
  nextK: number;
}

export async function channelLoadRole(params: ChannelLoadParams): Promise<never> {
  const peers: Peer[] = [];
  const greeted = new Counter();
  const synced = new Counter();
  const counts = { snapshots: 0, patches: 0, acks: 0, refused: 0, errors: 0, closed: 0 };
  const refusals: string[] = [];
  const sentAt = new Map<string, number>();
  const ackLatencies: number[] = [];
  let opsSent = 0;
  let seq = 0;
  let flooding = false;

  /** Sends op number nextN[k] of connection `index` on its channel k, timed to its `ack`. */
  const sendOp = (index: number, k: number) => {
    const peer = peers[index]!;
    const channel = peer.channels[k]!;
    const n = peer.nextN[k]!;
    peer.nextN[k] = n + 1;
    sentAt.set(`${index}|${channel}|${n}`, wallNow());
    peer.ws.send(opText(channel, n, ++seq));
    opsSent++;
  };
  const floodOne = (index: number) => {
    const peer = peers[index]!;
    sendOp(index, peer.nextK);
    peer.nextK = (peer.nextK + 1) % peer.channels.length;
  };
  /** Bounded wait for the answers still on their way, then what was sent and acked. */
  const settled = async (type: string, boundMs = 5_000) => {
    const until = wallNow() + boundMs;
    while (sentAt.size > 0 && wallNow() < until) await sleep(20);
    await send({
      type,
      sent: opsSent,
      acked: ackLatencies.length,
      unanswered: sentAt.size,
      ackP50Ms: percentile(ackLatencies, 50),
      ackP99Ms: percentile(ackLatencies, 99),
      ackMaxMs: percentile(ackLatencies, 100),
    });
  };

  const onFrame = (index: number, text: string) => {
    const frame = JSON.parse(text) as { type: string; channel?: string; n?: number; code?: string };
    switch (frame.type) {
      case 'welcome':
        greeted.add();
        break;
      case 'snapshot':
        counts.snapshots++;
        break;
      case 'synced':
        synced.add();
        break;
      case 'patch':
        counts.patches++;
        break;
      case 'ack': {
        const key = `${index}|${frame.channel}|${frame.n}`;
        const at = sentAt.get(key);
        if (at !== undefined) {
          sentAt.delete(key);
          ackLatencies.push(wallNow() - at);
        }
        counts.acks++;
        if (flooding) floodOne(index);
        break;
      }
      case 'unsubscribed':
        counts.refused++;
        if (refusals.length < 5) refusals.push(text);
        break;
      case 'error':
        counts.errors++;
        if (refusals.length < 5) refusals.push(text);
        break;
      default:
        break;
    }
  };

  const started = wallNow();
  for (let from = 0; from < params.connections; from += params.batch) {
    const to = Math.min(params.connections, from + params.batch);
    for (let i = from; i < to; i++) {
      const g = params.first + i;
      const channels = Array.from({ length: params.perConnection }, (_, k) => `${params.prefix}${(g * params.perConnection + k) % params.channelCount}`);
      const ws = new WebSocket(params.url, { perMessageDeflate: false });
      ws.on('open', () => ws.send(helloV2Text(`load-${g}`)));
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) onFrame(i, data.toString('utf8'));
      });
      ws.on('error', () => {});
      ws.on('close', () => counts.closed++);
      peers.push({ ws, channels, nextN: channels.map(() => 1), nextK: 0 });
    }
    await greeted.reach(to, params.timeoutMs, 'connections to be welcomed');
  }
  await send({ type: 'connected', seconds: (wallNow() - started) / 1000 });

  await next('subscribe');
  const subscribing = wallNow();
  for (const peer of peers) for (const channel of peer.channels) peer.ws.send(subscribeText(channel));
  await synced.reach(params.connections * params.perConnection, params.timeoutMs, 'subscriptions to be synced');
  await send({ type: 'subscribed', seconds: (wallNow() - subscribing) / 1000, refusals });

  let opsTimer: NodeJS.Timeout | undefined;
  on('ops', (message) => {
    clearInterval(opsTimer);
    const ratePerSec = Number(message.ratePerSec);
    const since = wallNow();
    const base = opsSent;
    let cursor = 0;
    opsTimer = setInterval(() => {
      const due = base + Math.floor(((wallNow() - since) * ratePerSec) / 1000);
      while (opsSent < due) {
        sendOp(cursor % peers.length, Math.floor(cursor / peers.length) % params.perConnection);
        cursor++;
      }
    }, OPS_TICK_MS);
    void send({ type: 'ops-started' });
  });
  // A fixed number of ops (`total`, `perTick` per tick, round robin as `ops`), then every answer
  // awaited: the same load for two servers whatever their speed (bench/probes/feed-ops-instructions.ts).
  on('ops-count', (message) => {
    clearInterval(opsTimer);
    const total = Number(message.total);
    const perTick = Number(message.perTick);
    let cursor = 0;
    opsTimer = setInterval(() => {
      for (let i = 0; i < perTick && cursor < total; i++, cursor++) sendOp(cursor % peers.length, Math.floor(cursor / peers.length) % params.perConnection);
      if (cursor < total) return;
      clearInterval(opsTimer);
      void settled('ops-counted', params.timeoutMs);
    }, OPS_TICK_MS);
  });
  on('ops-stop', () => {
    clearInterval(opsTimer);
    void settled('ops-stopped');
  });
  on('flood', (message) => {
    const window = Number(message.window);
    flooding = true;
    for (let index = 0; index < peers.length; index++) for (let i = 0; i < window; i++) floodOne(index);
    void send({ type: 'flood-started' });
  });
  on('flood-mark', () => void send({ type: 'flood-mark', acks: counts.acks, at: wallNow() }));
  on('flood-stop', () => {
    flooding = false;
    void settled('flood-stopped');
  });
  on('counts', () => void send({ type: 'counts', ...counts, refusals }));

  await next('finish');
  clearInterval(opsTimer);
  for (const peer of peers) peer.ws.terminate();
  return finish({ type: 'result', ...counts });
}
