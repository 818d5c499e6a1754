// Probe for issue 15: heap per connection, and where it goes. Opens CONNECTIONS connections of one library to a
// bench server (a child process, so only the client's heap is read) that sends each a snapshot, as scenario 2
// does, and reads the heap after GC before and after. SNAPSHOT=DIR also writes a heap snapshot before and after
// and prints the growth by constructor (self size per connection), the largest first. WARMUP=n opens n connections
// before the first reading (the shared code and shapes out of the figure; 200 is plenty).
// Run it bundled, as the bench runs its clients (tsx keeps function names with a property on every closure,
// about 7 KiB more per connection):
//   npx esbuild bench/probes/connection-heap.ts --bundle --packages=external --platform=node --format=esm \
//     --outfile=bench/.build/connection-heap.mjs && \
//   WARMUP=200 node --expose-gc bench/.build/connection-heap.mjs [ws|statesocket|raw|channel|actor] [CONNECTIONS]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { createActor } from 'xstate';
import { connect, type BenchConnection } from '../adapters.js';
import { ServerProcess } from '../lib/children.js';
import { Counter } from '../lib/counter.js';
import { createCountingStore } from '../workload.js';
import { liveMachine } from '../../src/effects.js';

const kind = process.argv[2] ?? 'statesocket';
const connections = Number(process.argv[3] ?? 1000);
const snapshotDir = process.env.SNAPSHOT;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

async function collect(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage().heapUsed;
}

/** Self size and count per `type:name` of a heap snapshot file. */
function byConstructor(file: string): Map<string, { size: number; count: number }> {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snapshot.snapshot.meta.node_types[0];
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    let name = snapshot.strings[snapshot.nodes[i + nameAt]!]!;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '';
    if (type === 'number') name = '';
    const key = `${type}:${name.slice(0, 60)}`;
    const entry = out.get(key) ?? { size: 0, count: 0 };
    entry.size += snapshot.nodes[i + sizeAt]!;
    entry.count++;
    out.set(key, entry);
  }
  return out;
}

const server = await ServerProcess.start();
const handles: BenchConnection[] = [];
const actors: Array<{ stop(): void }> = [];

/** Opens `count` connections of `kind` (`from` of them already open), each fed its snapshot. */
async function open(ready: Counter, from: number, count: number): Promise<void> {
  for (let first = from; first < from + count; first += 100) {
    const last = Math.min(from + count, first + 100);
    for (let i = first; i < last; i++) {
      const model = createCountingStore();
      let applied = false;
      model.onApplied = () => {
        if (!applied) ready.add();
        applied = true;
      };
      const library = kind === 'ws' ? 'ws' : 'statesocket';
      const protocol = kind === 'raw' ? 'raw' : kind === 'channel' ? 'channel' : 'sync';
      handles.push(connect(library, { url: server.url, model, reconnect: 'default', protocol }));
    }
    await ready.reach(last, 30_000, 'connections to open and apply their snapshot');
  }
}

try {
  const ready = new Counter();
  // the code, its feedback and the shapes every connection shares, made before the reading starts (fixed costs,
  // not per connection: without this they add 0.5 KiB or so per connection at 1,000, and vary from run to run)
  const warmup = kind === 'actor' ? 0 : Number(process.env.WARMUP ?? 0);
  await open(ready, 0, warmup);
  const before = await collect();
  const beforeFile = snapshotDir === undefined ? '' : writeHeapSnapshot(join(snapshotDir, `${kind}-before.heapsnapshot`));
  if (kind === 'actor') {
    for (let i = 0; i < connections; i++) {
      const actor = createActor(liveMachine, { input: undefined as never });
      actors.push(actor);
    }
  } else await open(ready, warmup, connections);
  const after = await collect();
  console.log(`${kind}: ${((after - before) / connections / 1024).toFixed(2)} KiB heap per connection (${connections} connections)`);
  if (snapshotDir !== undefined) {
    const afterFile = writeHeapSnapshot(join(snapshotDir, `${kind}-after.heapsnapshot`));
    const a = byConstructor(beforeFile);
    const b = byConstructor(afterFile);
    const rows = [...b].map(([key, { size, count }]) => ({ key, size: size - (a.get(key)?.size ?? 0), count: count - (a.get(key)?.count ?? 0) }));
    rows.sort((x, y) => y.size - x.size);
    const total = rows.reduce((sum, row) => sum + row.size, 0);
    console.log(`snapshot growth: ${(total / connections / 1024).toFixed(2)} KiB per connection`);
    for (const row of rows.slice(0, Number(process.env.TOP ?? 40))) {
      console.log(`${(row.size / connections).toFixed(0).padStart(7)} B  ${(row.count / connections).toFixed(2).padStart(7)} /conn  ${row.key}`);
    }
  }
} finally {
  for (const handle of handles) handle.close();
  for (const actor of actors) actor.stop();
  await server.kill();
}
