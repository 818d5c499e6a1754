/**
 * Scenario 6: machine overhead in isolation (see bench/roles/machine.ts).
 */
import { clientGraceMs, forkClient } from '../lib/children.js';
import { cell, num, ratio } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

const LABELS: Record<string, string> = {
  floor: 'floor: JSON.parse + store.update, no connection',
  actor: 'bare `createActor(connectionMachine)`: message.received',
  'connection (raw)': '`createTestConnection`, raw protocol: one frame per read on the fake socket',
  'connection (sync)': '`createTestConnection`, sync protocol: one frame per read on the fake socket',
  'connection (sync, reads of 100)': '`createTestConnection`, sync protocol: 100 frames per read (one machine event per read)',
  'channel (v2), one frame per read': '`createTestConnection`, sync protocol version 2: the same patches on a channel (`connection.channel()`), one frame per read',
  send: '`createTestConnection`: `connection.send()` while open',
};

export async function machineScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { events, repetitions } = ctx.profile.machine;
  const client = await forkClient('machine client', 'machine', { events, repetitions }, { exposeGc: true });
  let eventsPerSec: Record<string, number[]>;
  let heap: Record<string, number>;
  let channels: { heapPerChannel: number; subscribeMs: number; resubscribeMs: number };
  try {
    const result = await client.next('result', 300_000);
    eventsPerSec = result.eventsPerSec as Record<string, number[]>;
    heap = result.heapPerInstance as Record<string, number>;
    channels = result.channels as typeof channels;
  } finally {
    await client.kill(clientGraceMs());
  }
  const floor = summarize(eventsPerSec.floor ?? []).median;
  const rows = Object.entries(eventsPerSec).map(([variant, values]) => {
    const s = summarize(values);
    return [LABELS[variant] ?? variant, cell(s), num(1e6 / s.median, 2), variant === 'floor' || variant === 'send' ? '' : ratio(s.median, floor)];
  });
  ctx.log(`machine: ${rows.map((r) => `${r[0]} ${r[1]}`).join('; ')}`);
  // issue 13: a message on a channel costs at most 1.2× one on a connection without channels, in the same run
  const noChannels = summarize(eventsPerSec['connection (sync)'] ?? []).median;
  const onChannel = summarize(eventsPerSec['channel (v2), one frame per read'] ?? []).median;
  const channelRatio = onChannel > 0 ? noChannels / onChannel : NaN;
  ctx.log(`machine: a message on a channel costs ${num(channelRatio, 2)}× one on a connection without channels (target ≤ 1.2×)`);
  return {
    params: { events, repetitions },
    tables: [
      {
        columns: ['path', 'events/s', 'µs/event', 'vs floor'],
        rows,
        notes: [
          `${num(events)} events per repetition, ${repetitions} repetitions after a warm-up, one process (GC between repetitions); TestClock and FakeWebSocket, no network.`,
          `A message on a channel (protocol version 2, \`connection.channel()\`) costs ${num(channelRatio, 2)}× a message on a connection without channels (\`connection (sync)\`) in this run; the target is at most 1.2×.`,
          'The gap between the bare actor and the floor is XState itself; between the connection rows and the bare actor, the facade (status, history), the socket actor and the protocol layer. Frames that arrive in one socket read become one machine event, so under load (many frames per read) the cost per frame approaches the floor; one frame per read pays a whole machine event.',
        ],
      },
      {
        columns: ['in `open`, no socket library', 'heap KiB each'],
        rows: [
          ['bare `createActor(connectionMachine)` (XState alone, with its config)', num((heap.actor ?? 0) / 1024, 1)],
          ['`createTestConnection` with the sync protocol (the whole connection, fake socket)', num((heap.connection ?? 0) / 1024, 1)],
          ['the same with the sync protocol version 2 (its Model the default channel: one subscription actor)', num((heap['connection (v2, default channel)'] ?? 0) / 1024, 1)],
        ],
        notes: [
          '1,000 instances alive at once, heap after GC divided by 1,000. Scenario 2 measures connections over real sockets, where each also holds its `ws` socket: the bare actor is the floor of what one XState actor per connection costs.',
        ],
      },
      {
        columns: ['one connection, 1,000 channels (protocol version 2, fake socket)', 'measured'],
        rows: [
          ['heap per channel (its subscription actor, store, protocol state, handle)', `${num(channels.heapPerChannel / 1024, 1)} KiB`],
          ['subscribe all 1,000 while open (`connection.channel()` each)', `${num(channels.subscribeMs, 1)} ms`],
          ['after a drop: from the new socket open to all 1,000 live again', `${num(channels.resubscribeMs, 1)} ms`],
        ],
        notes: ['The resubscribe writes the hello and 1,000 subscribes with their positions, then reads 1,000 `synced` answers in one socket read.'],
      },
    ],
    targets: [
      {
        name: 'a message on a channel vs one on a connection without channels',
        required: '≤ 1.2×',
        measured: `${num(channelRatio, 2)}×`,
        met: Number.isFinite(channelRatio) ? channelRatio <= 1.2 : null,
      },
    ],
    data: { eventsPerSec, heapPerInstance: heap, channels },
  };
}
