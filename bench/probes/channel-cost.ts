// Probe for "a message on a channel vs one without channels" (issue 13's target, scenario 6's two rows) and the heap
// of a connection with channels (issue 15), outside the bench:
//   node --import tsx --expose-gc bench/probes/channel-cost.ts ratio [N] [PAIRS]
//     CPU time (process.cpuUsage: other processes' load counts less than in the wall-clock rows) per event of the
//     `connection (sync)` and `channel (v2), one frame per read` rows as scenario 6 runs them (set-up included, N
//     events), PAIRS pairs after a warm-up, the order alternating; prints the medians and the median of the ratios.
//   node --import tsx --expose-gc bench/probes/channel-cost.ts heap [CONNECTIONS]
//     heap per connection with channels: CONNECTIONS `createTestConnection`s speaking `createChannelProtocol`, each
//     with its default channel live (welcome, snapshot, synced), after 200 warm-up ones; heap used after GC.
// To compare two checkouts, bundle it as bench/probes/hot-path.ts says.
import { createStore } from '../../src/store.js';
import { createChannelProtocol } from '../../src/sync/client-protocol-v2.js';
import { createTestConnection } from '../../src/testing/test-connection.js';
import { BLAST_EPOCH, channelPatchText, patchText, snapshotText } from '../wire.js';
import { readChannel, readSync } from '../lib/read-rows.js';

const [mode = 'ratio', first, second] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const welcome = (client: string) => JSON.stringify({ type: 'welcome', v: 2, client, user: null, maxMessageBytes: 1_048_576, time: 0 });
const channelSnapshot = (channel: string) => JSON.stringify({ type: 'snapshot', channel, epoch: BLAST_EPOCH, seq: 0, data: {} });
const channelSynced = (channel: string) => JSON.stringify({ type: 'synced', channel, epoch: BLAST_EPOCH, seq: 0 });
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function ratio(n: number, pairs: number): void {
  const frames = Array.from({ length: n }, (_, i) => patchText(BLAST_EPOCH, i + 1));
  const channelFrames = Array.from({ length: n }, (_, i) => channelPatchText('prices', BLAST_EPOCH, i + 1));
  const snapshot = snapshotText(BLAST_EPOCH, 0, {});
  const rows: Record<'sync' | 'channel', (n: number) => void> = {
    sync: (n) => readSync(n, snapshot, frames),
    channel: (n) => readChannel(n, welcome('probe'), channelFrames),
  };
  const cpu = (row: 'sync' | 'channel', n: number): number => {
    gc!();
    const start = process.cpuUsage();
    rows[row](n);
    const used = process.cpuUsage(start);
    return (used.user + used.system) / n;
  };
  cpu('sync', Math.ceil(n / 10));
  cpu('channel', Math.ceil(n / 10));
  const sync: number[] = [];
  const channel: number[] = [];
  const ratios: number[] = [];
  for (let pair = 0; pair < pairs; pair++) {
    const order = pair % 2 === 0 ? (['sync', 'channel'] as const) : (['channel', 'sync'] as const);
    const took = { sync: 0, channel: 0 };
    for (const row of order) took[row] = cpu(row, n);
    sync.push(took.sync);
    channel.push(took.channel);
    ratios.push(took.channel / took.sync);
  }
  console.log(`CPU µs per event: without channels ${median(sync).toFixed(2)}, on a channel ${median(channel).toFixed(2)}; on a channel / without, median of ${pairs} pairs: ${median(ratios).toFixed(2)}× (${n} events a row)`);
}

function heap(connections: number): void {
  const kept: unknown[] = [];
  const open = (count: number) => {
    for (let i = 0; i < count; i++) {
      const client = `c${kept.length}`;
      const t = createTestConnection({ model: createStore(), protocol: createChannelProtocol({ clientId: client }) });
      const socket = t.open();
      socket.receive(welcome(client), channelSnapshot('default'), channelSynced('default'));
      kept.push(t);
    }
  };
  const used = () => {
    for (let i = 0; i < 4; i++) gc!();
    return process.memoryUsage().heapUsed;
  };
  open(200);
  const before = used();
  open(connections);
  const after = used();
  console.log(`${((after - before) / connections / 1024).toFixed(2)} KiB heap per connection with its default channel live (${connections} connections)`);
}

if (mode === 'ratio') ratio(Number(first ?? 5_000), Number(second ?? 21));
else if (mode === 'heap') heap(Number(first ?? 2_000));
else throw new Error(`unknown mode ${mode}; ratio or heap`);
