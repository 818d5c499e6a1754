/**
 * Scenario 10, receiver side: `connections` subscribers of one server kind from this one process,
 * kept as cheap as the kind allows so the server, not the receivers, is what is measured.
 *
 * - `statesocket`: raw `ws` sockets speaking protocol version 2 by hand (hello, subscribe to the
 *   feed channel; then every `patch`).
 * - `ws`: raw `ws` sockets; the server sends the same patch text to every socket.
 * - `socketio`: `socket.io-client` sockets (websocket transport only, one engine per socket:
 *   `forceNew`), receiving the `patch` event.
 *
 * Every patch carries its seq and the wall-clock time the server made it (`t` in the row it sets):
 * per seq this process keeps the latest arrival over its connections and how many arrived, so the
 * parent can tell when a change had reached every subscriber. Every `PROGRESS_MS` it reports the
 * lowest seq every one of its connections has received: the server's saturation feed stays at
 * most a window ahead of that (a closed loop, so no buffer grows without bound).
 *
 * IPC in: `counts` (deliveries so far), `latency {from, to}` (per-seq arrivals, then forgotten),
 * `finish`. IPC out: `ready {seconds}`, `progress {seq}`, `counts {deliveries, closed}`, `latency`.
 */
import { io as ioClient, type Socket as IoSocket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { Counter } from '../lib/counter.js';
import { finish, next, on, send } from '../lib/ipc.js';
import { sleep, wallNow } from '../lib/time.js';
import { helloV2Text, subscribeText } from '../wire.js';

export type FanoutServerKind = 'statesocket' | 'ws' | 'socketio';

export interface FanoutReceiverParams {
  kind: FanoutServerKind;
  /** The instances' URLs: connection i goes to `urls[(first + i) % urls.length]`. */
  urls: string[];
  connections: number;
  /** Global index of this process's first connection. */
  first: number;
  /** The channel the feed changes (statesocket); the others ignore it. */
  channel: string;
  /** Connections whose handshake is in flight at once. */
  batch: number;
  timeoutMs: number;
}

/** How often the lowest seq received is reported to the parent. */
export const PROGRESS_MS = 20;

/** A number written right after `key` (e.g. `"seq":`) in `text`; NaN when absent. */
export function numberAfter(text: string, key: string): number {
  const at = text.indexOf(key);
  if (at < 0) return NaN;
  let end = at + key.length;
  while (end < text.length) {
    const c = text.charCodeAt(end);
    if ((c < 48 || c > 57) && c !== 46 && c !== 45 && c !== 101 && c !== 43) break;
    end++;
  }
  return Number(text.slice(at + key.length, end));
}

interface Arrivals {
  /** Latest arrival (wall ms) minus the time the server made the change, per seq. */
  worstMs: Map<number, number>;
  count: Map<number, number>;
  /** Every delivery's own latency (ms), for the per-delivery percentiles. */
  each: number[];
}

export async function fanoutReceiverRole(params: FanoutReceiverParams): Promise<never> {
  const { connections } = params;
  const lastSeq = new Float64Array(connections).fill(-1);
  const ready = new Counter();
  let deliveries = 0;
  let closed = 0;
  let recording = false;
  const arrivals: Arrivals = { worstMs: new Map(), count: new Map(), each: [] };
  const closers: Array<() => void> = [];

  const arrived = (i: number, seq: number, madeAt: number) => {
    deliveries++;
    lastSeq[i] = seq;
    if (!recording) return;
    const latency = wallNow() - madeAt;
    arrivals.each.push(latency);
    const worst = arrivals.worstMs.get(seq);
    if (worst === undefined || latency > worst) arrivals.worstMs.set(seq, latency);
    arrivals.count.set(seq, (arrivals.count.get(seq) ?? 0) + 1);
  };

  let opening = true;
  let lose: (error: Error) => void = () => {};
  const lost = new Promise<never>((_, reject) => (lose = reject));
  lost.catch(() => {});
  const opened = new Uint8Array(connections);
  const open = (i: number) => {
    const url = params.urls[(params.first + i) % params.urls.length]!;
    if (params.kind === 'socketio') {
      const socket: IoSocket = ioClient(url, { transports: ['websocket'], forceNew: true, reconnection: false });
      socket.on('connect', () => ready.add());
      socket.on('patch', (frame: { seq: number; set: Record<string, { t: number }> }) => {
        for (const key in frame.set) arrived(i, frame.seq, frame.set[key]!.t);
      });
      socket.on('connect_error', (error) => lose(new Error(`socket.io connection ${i} failed: ${error.message}`)));
      socket.on('disconnect', () => closed++);
      closers.push(() => socket.disconnect());
      return;
    }
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () => {
      if (params.kind === 'ws') {
        opened[i] = 1;
        return ready.add();
      }
      ws.send(helloV2Text(`fanout-${params.first + i}`));
      ws.send(subscribeText(params.channel));
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const text = data.toString('utf8');
      if (text.startsWith('{"type":"patch"')) return arrived(i, numberAfter(text, '"seq":'), numberAfter(text, '"t":'));
      if (text.startsWith('{"type":"synced"')) {
        lastSeq[i] = numberAfter(text, '"seq":');
        opened[i] = 1;
        ready.add();
      }
    });
    ws.on('error', () => {});
    ws.on('close', (code: number, reason: Buffer) => {
      closed++;
      if (opening && opened[i] === 0) lose(new Error(`${params.kind} connection ${i} closed before it was ready (${code} ${reason.toString()})`));
    });
    closers.push(() => ws.terminate());
  };

  const started = wallNow();
  for (let from = 0; from < connections; from += params.batch) {
    const to = Math.min(connections, from + params.batch);
    for (let i = from; i < to; i++) open(i);
    await Promise.race([ready.reach(to, params.timeoutMs, `${params.kind} connections to open and subscribe`), lost]);
  }
  opening = false;
  await send({ type: 'ready', seconds: (wallNow() - started) / 1000 });

  const progress = setInterval(() => {
    let lowest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < connections; i++) if (lastSeq[i]! < lowest) lowest = lastSeq[i]!;
    void send({ type: 'progress', seq: lowest }).catch(() => {});
  }, PROGRESS_MS);

  on('counts', () => void send({ type: 'counts', deliveries, closed }));
  on('record', (message) => {
    recording = message.on === true;
    if (recording) {
      arrivals.worstMs.clear();
      arrivals.count.clear();
      arrivals.each = [];
    }
    void send({ type: 'recording', on: recording });
  });
  on('latency', () => {
    void send({ type: 'latency', worst: [...arrivals.worstMs], count: [...arrivals.count], each: arrivals.each });
  });

  await next('finish');
  clearInterval(progress);
  for (const close of closers) close();
  await sleep(50);
  return finish({ type: 'result', deliveries, closed });
}
