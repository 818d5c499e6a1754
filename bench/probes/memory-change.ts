// Probe for issue 14's scenario 11 (b): the server's changes on the memory engine's path, in-process, no sockets:
// 5,000 loaded channels (each followed by the server's copy), changes round robin over them (one row each),
// CPU per change and the heap left behind. Figures for docs/benchmarks.md; reported, never judged.
//   node --import tsx --expose-gc bench/probes/memory-change.ts
//   env: CHANGES (per repetition, default 100000), WARM (before, default 50000), LOG (an engine of its own with this logSize;
//   unset: the server's own memory engine, which keeps no log; LOG=1000 was its default before). Under callgrind: bundle it with esbuild (packages
//   external) and take the difference of two CHANGES values.
import { memoryEngine } from '../../src/server/engines/memory.js';
import { createSyncServer } from '../../src/server/sync-server.js';

const CHANNELS = 5_000;
const REPETITIONS = 5;
const total = Number(process.env.CHANGES ?? 100_000);
const warm = Number(process.env.WARM ?? 50_000);
const engine = process.env.LOG === undefined ? undefined : memoryEngine({ logSize: Number(process.env.LOG) });
const server = createSyncServer({ maxChannelsInMemory: 2 * CHANNELS, ...(engine === undefined ? {} : { engine }) });
try {
  for (let i = 0; i < CHANNELS; i++) await server.loadChannel(`load-${i}`);
  let k = 0;
  const run = (count: number) => {
    for (let i = 0; i < count; i++) {
      k++;
      void server.change({ set: { [`row-${k % 100}`]: { id: k, price: 100 + (k % 37) / 7, qty: k % 11, side: k % 2 ? 'buy' : 'sell', note: 'x'.repeat(20) } } }, `load-${k % CHANNELS}`);
    }
  };
  run(warm);
  await new Promise((resolve) => setImmediate(resolve));
  const perChange: number[] = [];
  for (let rep = 0; rep < (total > 0 ? REPETITIONS : 0); rep++) {
    const before = process.cpuUsage();
    run(total);
    await new Promise((resolve) => setImmediate(resolve));
    const cpu = process.cpuUsage(before);
    perChange.push((cpu.user + cpu.system) / total);
  }
  perChange.sort((a, b) => a - b);
  console.log(`µs CPU per server change (${perChange.length} repetitions, sorted): ${perChange.map((us) => us.toFixed(2)).join(' ')}`);
  (globalThis as { gc?: () => void }).gc?.();
  console.log(`heap used after a collection: ${(process.memoryUsage().heapUsed / 1e6).toFixed(1)} MB`);
} finally {
  server.close();
  if (engine !== undefined) await engine.close();
}
