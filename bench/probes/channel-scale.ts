// Probe for the cost of many channels on one connection (docs/channels.md, "Cost"): for each N, a
// connection on a fake socket (createTestConnection, no network, no server) opens N channels
// while open, reads a snapshot and `synced` for each (one socket read per channel), then stops.
// npx tsx bench/probes/channel-scale.ts [N ...]   (default 250 500 1000 2000)
// Prints the median of 3 runs per N (after a warm-up of 2 × 500 channels), in ms per phase and µs
// per channel: flat per-channel figures mean linear growth. Timings are reported, never judged; a
// shared machine is noisy, so compare runs of the same moment.
import { performance } from 'node:perf_hooks';
import { createChannelProtocol } from '../../src/sync/client-protocol-v2.js';
import { createTestConnection } from '../../src/testing/index.js';

function run(n: number): { subscribe: number; live: number; stop: number } {
  const t = createTestConnection({ protocol: createChannelProtocol({ clientId: 'probe', defaultChannel: false }) });
  const socket = t.open();
  socket.receive({ type: 'welcome', v: 2, client: 'probe', user: null, maxMessageBytes: 1_048_576, time: 1_000 });
  let start = performance.now();
  const channels = Array.from({ length: n }, (_, i) => t.connection.channel(`many-${i}`));
  const subscribe = performance.now() - start;
  start = performance.now();
  for (let i = 0; i < n; i++) {
    socket.receive(
      { type: 'snapshot', channel: `many-${i}`, epoch: 'E', seq: 1, data: { i } },
      { type: 'synced', channel: `many-${i}`, epoch: 'E', seq: 1 },
    );
  }
  const live = performance.now() - start;
  if (!channels.every((channel) => channel.getStatus().live)) throw new Error(`probe: not every one of ${n} channels is live`);
  start = performance.now();
  t.connection.stop();
  const stop = performance.now() - start;
  if (!channels.every((channel) => channel.getStatus().state === 'ended')) throw new Error(`probe: not every one of ${n} channels ended`);
  return { subscribe, live, stop };
}

const sizes = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [250, 500, 1_000, 2_000];
if (!sizes.every((n) => Number.isSafeInteger(n) && n > 0)) throw new Error(`usage: npx tsx bench/probes/channel-scale.ts [N ...]; received ${process.argv.slice(2).join(' ')}`);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
run(500); // warm-up: the first runs pay for compiling
run(500);
console.log('| channels | subscribe all (ms) | all live after the answers (ms) | stop() (ms) | µs per channel: subscribe / live / stop |');
console.log('|---|---|---|---|---|');
for (const n of sizes) {
  const runs = [run(n), run(n), run(n)];
  const subscribe = median(runs.map((r) => r.subscribe));
  const live = median(runs.map((r) => r.live));
  const stop = median(runs.map((r) => r.stop));
  const per = (ms: number) => ((ms * 1_000) / n).toFixed(0);
  console.log(`| ${n} | ${subscribe.toFixed(0)} | ${live.toFixed(0)} | ${stop.toFixed(0)} | ${per(subscribe)} / ${per(live)} / ${per(stop)} |`);
}
