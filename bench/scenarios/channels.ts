/**
 * Scenario 8: channels over real sockets (issue 13). The reference server in a child
 * (bench/roles/sync-server.ts), the client in another (bench/roles/channels.ts), over `ws` on
 * 127.0.0.1: how long a subscribe takes, beside a raw round trip in the same run; what a channel
 * costs a connection holding 1,000 of them; and how long those 1,000 take to resume after the
 * server drops the socket, by replay (counted) rather than snapshot.
 */
import { clientGraceMs, forkClient } from '../lib/children.js';
import { num, ratio } from '../lib/report.js';
import { percentile, summarize } from '../lib/stats.js';
import { SyncServerChild } from '../lib/sync-server.js';
import { CHANNEL_PREFIX, type ChannelsParams } from '../roles/channels.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

/** Rows each latency channel (and the default channel) holds: its snapshot is about 1 KiB. */
const SEED_KEYS = 10;
/** Raised from the default 2,000 so `--full`'s 2,050 latency channels fit on their connection. */
const MAX_CHANNELS_PER_CONNECTION = 10_000;

const LATENCY_LABELS: Record<string, string> = {
  ping: 'raw `ws`: `ping` → `pong` (one round trip through the server)',
  'raw subscribe': 'raw `ws`: `subscribe` → snapshot → `synced` (no client library)',
  'channel()': '`connection.channel(name)` → `subscribed`, live, snapshot applied',
  'connect v1': 'a new connection, version 1: `createConnection` → first snapshot applied',
  'connect v2': 'a new connection, version 2 (its default channel): `createConnection` → first snapshot applied',
};

interface Resubscribe {
  /** From the server's drop (taken before its `/control/drop` request) to the client seeing its connection down. */
  dropToDownMs: number;
  /** From the client seeing the drop to the new socket's open, and to every channel live again. */
  openMs: number;
  liveMs: number;
  /** From the new socket's open to every channel live again: the resubscribe itself. */
  openToLiveMs: number;
  snapshots: number;
  patches: number;
  replayed: number;
  serverReplays: number;
  serverSnapshots: number;
  sockets: number;
}

export async function channelsScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const p = ctx.profile.channels;
  const server = await SyncServerChild.start('channels server', { maxChannelsPerConnection: MAX_CHANNELS_PER_CONNECTION });
  let client: Awaited<ReturnType<typeof forkClient>> | undefined;
  try {
    const total = p.warmup + p.subscribes;
    const seeded = ['default'];
    for (let i = 0; i < total; i++) seeded.push(`${CHANNEL_PREFIX.raw}${i}`, `${CHANNEL_PREFIX.lat}${i}`);
    await server.seed(seeded, SEED_KEYS);
    const timeoutMs = 30_000 + p.channels * 20;
    const params: ChannelsParams = { url: server.url, ...p, timeoutMs };
    client = await forkClient('channels client', 'channels', { ...params }, { exposeGc: true });

    const latency = (await client.next('latency', 120_000 + total * 500)).samples as Record<string, number[]>;
    const many = await client.next('many', timeoutMs + 30_000);
    const heapPerChannel = Number(many.heapPerChannel);
    const subscribeAllMs = Number(many.subscribeAllMs);
    const loopMs = Number(many.loopMs);
    ctx.log(`channels: ${p.channels} channels on one connection, ${num(heapPerChannel / 1024, 1)} KiB each, all subscribed in ${num(subscribeAllMs)} ms`);

    const resubscribes: Resubscribe[] = [];
    for (let rep = 0; rep < p.drops; rep++) {
      await client.next('armed', 10_000);
      const before = await server.stats();
      const dropped = await server.dropAndChange(CHANNEL_PREFIX.many, p.channels);
      const back = await client.next('resubscribed', timeoutMs + 10_000);
      const after = await server.stats();
      client.send({ type: 'next' });
      const run: Resubscribe = {
        dropToDownMs: Number(back.downAt) - dropped.at,
        openMs: Number(back.openAt) - Number(back.downAt),
        liveMs: Number(back.liveAt) - Number(back.downAt),
        openToLiveMs: Number(back.liveAt) - Number(back.openAt),
        snapshots: Number(back.snapshots),
        patches: Number(back.patches),
        replayed: Number(back.replayed),
        serverReplays: (after.replays ?? NaN) - (before.replays ?? NaN),
        serverSnapshots: (after.snapshotsSent ?? NaN) - (before.snapshotsSent ?? NaN),
        sockets: dropped.sockets,
      };
      resubscribes.push(run);
      ctx.log(
        `channels: drop ${rep + 1}: open again after ${num(run.openMs)} ms, all ${p.channels} live ${num(run.openToLiveMs)} ms later; ` +
          `${run.snapshots} snapshots, ${run.replayed} of ${run.patches} patches by replay`,
      );
    }
    const stopMs = Number((await client.next('result', 60_000)).stopMs);

    const ping = percentile(latency.ping ?? [], 50);
    const raw = percentile(latency['raw subscribe'] ?? [], 50);
    const channel = percentile(latency['channel()'] ?? [], 50);
    const latencyRows = Object.entries(LATENCY_LABELS).map(([kind, label]) => {
      const values = latency[kind] ?? [];
      const p50 = percentile(values, 50);
      return [label, num(values.length), num(p50, 2), num(percentile(values, 99), 2), num(percentile(values, 100), 2), ratio(p50, ping)];
    });
    ctx.log(`channels: subscribe p50 ${num(channel, 2)} ms = ${ratio(channel, ping)} a ping round trip, ${ratio(channel, raw)} a raw subscribe`);

    const med = (pick: (r: Resubscribe) => number) => summarize(resubscribes.map(pick));
    const cellMs = (pick: (r: Resubscribe) => number) => {
      const s = med(pick);
      return s.n <= 1 ? `${num(s.median, 1)} ms` : `${num(s.median, 1)} ms (${num(s.min, 1)}–${num(s.max, 1)})`;
    };
    const sum = (pick: (r: Resubscribe) => number) => resubscribes.reduce((total, r) => total + pick(r), 0);
    const resumes = p.channels * resubscribes.length;
    return {
      params: { ...p, seedKeys: SEED_KEYS, maxChannelsPerConnection: MAX_CHANNELS_PER_CONNECTION },
      tables: [
        {
          title: 'Subscribe latency',
          columns: ['request, one at a time over `ws` on 127.0.0.1', 'n', 'p50 ms', 'p99 ms', 'max ms', 'p50 vs ping'],
          rows: latencyRows,
          notes: [
            `A subscribe through \`connection.channel()\` takes ${ratio(channel, ping)} a raw \`ws\` round trip (ping p50) and ${ratio(channel, raw)} the same subscribe sent by hand (raw subscribe p50), in this run.`,
            `The reference server (\`startSyncServer\`) in a child process; the client in another. Every channel is new to its connection and holds ${SEED_KEYS} rows (a snapshot of about 1 KiB); the three requests alternate, one at a time, ${num(p.warmup)} untimed rounds first. A connection's time includes the TCP and WebSocket handshakes and the hello.`,
          ],
        },
        {
          title: `One connection, ${num(p.channels)} channels (protocol version 2, real socket)`,
          columns: ['measured', 'value'],
          rows: [
            ['heap per channel (client process, after GC: its subscription actor, store, protocol state, handle)', `${num(heapPerChannel / 1024, 1)} KiB`],
            [`subscribe all ${num(p.channels)}: \`connection.channel()\` each, until every one is live`, `${num(subscribeAllMs, 1)} ms`],
            [`… of which the ${num(p.channels)} \`channel()\` calls themselves (synchronous: spawn, write the subscribe)`, `${num(loopMs, 1)} ms`],
            [`the server drops the socket; from the client's 1006 to its new socket open (the reconnect wait is fixed at ${p.reconnectWaitMs} ms here)`, cellMs((r) => r.openMs)],
            [`… to all ${num(p.channels)} channels subscribed and live again`, cellMs((r) => r.liveMs)],
            [`resubscribe all ${num(p.channels)}: from the new socket open to every channel live (hello, ${num(p.channels)} subscribes with positions, replays, \`synced\`)`, cellMs((r) => r.openToLiveMs)],
            ['resumes by replay / snapshots, client side (all drops)', `${num(sum((r) => r.replayed))} of ${num(resumes)} channels got their missed patch by replay; ${num(sum((r) => r.snapshots))} snapshots`],
            ['server counters over the drops: replays / snapshots sent', `${num(sum((r) => r.serverReplays))} / ${num(sum((r) => r.serverSnapshots))}`],
            [`\`connection.stop()\` with the ${num(p.channels)} channels`, `${num(stopMs, 1)} ms`],
          ],
          notes: [
            `${resubscribes.length} drop(s): the server's \`/control/drop\` terminates the socket (the client sees 1006), then changes each of the ${num(p.channels)} channels once before the client can be back; the client resubscribes every channel with its position, so each should get that one patch by replay, then \`synced\`, and no snapshot. Times are medians (min–max) over the drops, on the wall clock shared by the processes.`,
            'Scenario 6 measures the same connection on a fake socket (no network, no server): its resubscribe row is the client\'s share of the time here.',
          ],
        },
      ],
      targets: [],
      data: { latency, heapPerChannel, subscribeAllMs, loopMs, stopMs, resubscribes },
    };
  } finally {
    await client?.kill(clientGraceMs());
    await server.stop();
  }
}
