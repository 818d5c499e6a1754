/**
 * Scenario 9: one reference server holding 10,000 channels for 1,000 connections (issue 13). The
 * server in a child started with --expose-gc (bench/roles/sync-server.ts); the connections are
 * raw `ws` sockets speaking version 2 by hand from `processes` load children
 * (bench/roles/channel-load.ts), each connection holding `perConnection` channels, every channel
 * name held by one connection. Measured on the server: heap after GC per connection and per
 * channel, and the event-loop delay with its CPU share over windows: nothing connected (the
 * baseline), everything subscribed and quiet, a server-side feed over every channel, and the
 * feed with ops from the clients.
 */
import { availableParallelism } from 'node:os';
import { clientGraceMs, forkClient, type Child } from '../lib/children.js';
import { num, ratio } from '../lib/report.js';
import { sleep } from '../lib/time.js';
import { SyncServerChild, openFilesLimit, type HeapReading, type LoopDelay } from '../lib/sync-server.js';
import { ELD_RESOLUTION_MS, FEED_TICK_MS } from '../roles/sync-server.js';
import type { ChannelLoadParams } from '../roles/channel-load.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

const PREFIX = 'load-';
/** Descriptors a process needs besides its sockets (stdio, IPC, the listener, libuv). */
const SPARE_DESCRIPTORS = 64;
/** Time for a rate to settle before its window. */
const SETTLE_MS = 300;

const mib = (bytes: number) => `${num(bytes / 1_048_576, 1)} MiB`;
const kib = (bytes: number) => `${num(bytes / 1024, 2)} KiB`;

export async function channelServerScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const p = ctx.profile.channelServer;
  const perProcess = Math.ceil(p.connections / p.processes);
  const limit = openFilesLimit();
  if (limit !== undefined && limit < p.connections + SPARE_DESCRIPTORS) {
    throw new Error(`ulimit -n is ${limit}: the server process needs ${p.connections + SPARE_DESCRIPTORS} descriptors for ${p.connections} connections; raise it (ulimit -n ${p.connections * 2}) and run again`);
  }
  // Every connection comes from 127.0.0.1: the per-address cap (default 1,000) is raised to let them in.
  const options = { maxConnectionsPerAddress: p.connections + 100 };
  const server = await SyncServerChild.start('channel server', options);
  const loads: Child[] = [];
  try {
    await sleep(200);
    const empty = await server.heap();
    const idle = await server.loopDelay(p.windowMs);
    ctx.log(`channel-server: idle p99 ${num(idle.p99Ms, 2)} ms, heap ${mib(empty.heapUsed)}`);

    const timeoutMs = 30_000 + perProcess * 30;
    for (let i = 0; i < p.processes; i++) {
      const connections = Math.min(perProcess, p.connections - i * perProcess);
      const params: ChannelLoadParams = {
        url: server.url,
        connections,
        first: i * perProcess,
        perConnection: p.perConnection,
        channelCount: p.channels,
        prefix: PREFIX,
        batch: p.batch,
        timeoutMs,
      };
      loads.push(await forkClient(`channel load ${i + 1}`, 'channel-load', { ...params }));
    }
    const connected = await Promise.all(loads.map((load) => load.next('connected', timeoutMs + 10_000)));
    const connectSeconds = Math.max(...connected.map((m) => Number(m.seconds)));
    const greeted = await server.heap();

    for (const load of loads) load.send({ type: 'subscribe' });
    const subscribed = await Promise.all(loads.map((load) => load.next('subscribed', timeoutMs + 10_000)));
    const subscribeSeconds = Math.max(...subscribed.map((m) => Number(m.seconds)));
    const held = await server.heap();
    ctx.log(`channel-server: ${p.connections} connections in ${num(connectSeconds, 1)} s, ${num(p.connections * p.perConnection)} subscriptions in ${num(subscribeSeconds, 1)} s`);
    const quiet = await server.loopDelay(p.windowMs);

    await server.feed(PREFIX, p.channels, p.feedRatePerSec);
    await sleep(SETTLE_MS);
    const feeding = await server.loopDelay(p.windowMs);

    for (const load of loads) load.send({ type: 'ops', ratePerSec: p.opsRatePerSec / p.processes });
    await Promise.all(loads.map((load) => load.next('ops-started', 10_000)));
    await sleep(SETTLE_MS);
    const both = await server.loopDelay(p.windowMs);
    for (const load of loads) load.send({ type: 'ops-stop' });
    const ops = await Promise.all(loads.map((load) => load.next('ops-stopped', 30_000)));
    const feedChanges = await server.stopFeed();
    await sleep(200); // the last patches reach their clients
    for (const load of loads) load.send({ type: 'counts' });
    const counts = await Promise.all(loads.map((load) => load.next('counts', 10_000)));
    const after = await server.heap();
    ctx.log(`channel-server: quiet p99 ${num(quiet.p99Ms, 2)} ms, feed p99 ${num(feeding.p99Ms, 2)} ms, feed + ops p99 ${num(both.p99Ms, 2)} ms`);

    const total = (key: string, from: typeof counts) => from.reduce((sum, m) => sum + Number(m[key]), 0);
    const opsSent = total('sent', ops);
    const opsAcked = total('acked', ops);
    const ackP50 = Math.max(...ops.map((m) => Number(m.ackP50Ms)));
    const ackP99 = Math.max(...ops.map((m) => Number(m.ackP99Ms)));
    const subscriptions = p.connections * p.perConnection;
    const perConnection = (greeted.heapUsed - empty.heapUsed) / p.connections;
    const perChannel = (held.heapUsed - greeted.heapUsed) / p.channels;
    const perChannelAfter = (after.heapUsed - greeted.heapUsed) / p.channels;
    const refusals = subscribed.flatMap((m) => m.refusals as string[]).slice(0, 3);

    const delayRow = (label: string, d: LoopDelay) => [label, num(d.p50Ms, 2), num(d.p99Ms, 2), num(d.maxMs, 2), ratio(d.p99Ms, idle.p99Ms), `${num(d.cpuShare * 100)} %`];
    const heapRow = (label: string, reading: HeapReading, each: string) => [label, mib(reading.heapUsed), mib(reading.external), mib(reading.rss), each];
    return {
      params: { ...p, serverOptions: options, eldResolutionMs: ELD_RESOLUTION_MS },
      tables: [
        {
          title: `Server heap: ${num(p.connections)} connections, ${num(p.channels)} channels`,
          columns: ['server state (after GC)', 'heap', 'external + array buffers', 'RSS', 'each'],
          rows: [
            heapRow('listening, nothing connected', empty, ''),
            heapRow(`${num(p.connections)} connections greeted (version 2 hello/welcome), no channel`, greeted, `${kib(perConnection)} per connection`),
            heapRow(`+ ${num(p.channels)} channels, ${num(subscriptions)} subscriptions (${p.perConnection} per connection)`, held, `${kib(perChannel)} per channel (with its subscription)`),
            heapRow('+ after the feed and the ops below (documents and logs grown)', after, `${kib(perChannelAfter)} per channel`),
          ],
          notes: [
            `Connections take ${num(connectSeconds, 1)} s to open and be welcomed (${p.batch} handshakes in flight per load process); the ${num(subscriptions)} subscribes ${num(subscribeSeconds, 2)} s until every \`synced\`. Each channel starts empty (created on first use); the feed sets one of 100 rows per change.`,
            `Server options raised for the bench: \`maxConnectionsPerAddress\` ${num(options.maxConnectionsPerAddress)} (default 1,000: every connection comes from 127.0.0.1). The rest are defaults (\`maxChannelsPerConnection\` 2,000, \`maxChannelsInMemory\` 100,000, \`maxConnections\` 10,000, \`logSize\` 1,000).`,
            refusals.length > 0 ? `Refused subscribes (first few): ${refusals.join(' ')}` : 'No subscribe was refused.',
          ],
        },
        {
          title: 'Server event-loop delay',
          columns: ['while', 'p50 ms', 'p99 ms', 'max ms', 'p99 vs idle', 'server CPU (one core)'],
          rows: [
            delayRow('nothing connected (the baseline)', idle),
            delayRow('everything subscribed, quiet', quiet),
            delayRow(`a feed of ${num(p.feedRatePerSec)} changes/s round robin over the ${num(p.channels)} channels`, feeding),
            delayRow(`the feed and ${num(p.opsRatePerSec)} ops/s from the clients`, both),
          ],
          notes: [
            `\`monitorEventLoopDelay\` at ${ELD_RESOLUTION_MS} ms resolution over ${num(p.windowMs / 1000, 1)} s per row; a value includes the ${ELD_RESOLUTION_MS} ms timer period (an idle loop reads about ${ELD_RESOLUTION_MS} ms). The feed applies its changes in ${FEED_TICK_MS} ms ticks (\`handle.change\`, one patch to the channel's one holder each).`,
            `Ops: ${num(opsSent)} sent, ${num(opsAcked)} acked, send → \`ack\` p50 ${num(ackP50, 2)} ms, p99 ${num(ackP99, 2)} ms (worst load process). Patches received by the clients: ${num(total('patches', counts))} (feed changes ${num(feedChanges)} plus acked ops); connections closed by the server: ${num(total('closed', counts))}.`,
            `${p.processes} load process(es) of raw \`ws\` sockets on the same ${availableParallelism()}-core machine share the CPU with the server.`,
          ],
        },
      ],
      targets: [],
      data: { empty, greeted, held, after, idle, quiet, feeding, both, ops, counts, feedChanges, connectSeconds, subscribeSeconds },
    };
  } finally {
    for (const load of loads) load.send({ type: 'finish' });
    await Promise.all(loads.map((load) => load.kill(clientGraceMs())));
    await server.stop();
  }
}
