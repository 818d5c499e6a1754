// Probe for issue 15's hot paths (one frame per read, send() while open) outside the bench:
//   node --import tsx --expose-gc bench/probes/hot-path.ts [VARIANTS] [N] [REPS]
// VARIANTS a comma list (default: all) of floor, actor, raw, sync, channel, send-floor, send-raw,
// send-sync-1, send-sync-1000. Prints µs per event (median of REPS after a warm-up) and the ratio to
// its floor (floor for inbound rows, send-floor for send rows). Profile one row with
// `node --cpu-prof --cpu-prof-dir /tmp/x --import tsx bench/probes/hot-path.ts sync 200000 1`.
// Load-independent figure: bundle it with esbuild (packages external) and run one variant under
// `valgrind --tool=callgrind` with REPS 1, PROBE_FRAMES=2N, once with N and once with 2 × N: the runs
// differ by 1.1 × N events (the warm-up is N / 10), so the difference of the instructions collected
// divided by 1.1 × N is the instructions per event. The send-sync rows answer no op: during a row the outbox
// grows from 1 (or 1,000) by N, so a send whose cost grew with the outbox shows here as growth with N.
import { createActor } from 'xstate';
import { connectionMachine } from '../../machines/connection.js';
import { resolveOptions } from '../../src/options.js';
import { fastPathStats } from '../../src/fast-path.js';
import { rawProtocol } from '../../src/protocol.js';
import { createStore } from '../../src/store.js';
import { createSyncProtocol, type SyncOutbound } from '../../src/sync/client-protocol.js';
import { TestClock } from '../../src/testing/clock.js';
import { FakeWebSocket } from '../../src/testing/fake-websocket.js';
import { createTestConnection } from '../../src/testing/test-connection.js';
import type { WebSocketConstructor } from '../../src/types.js';
import { BLAST_EPOCH, channelPatchText, patchText, snapshotText } from '../wire.js';
import { readChannel, readSync } from '../lib/read-rows.js';

const [variantsText = 'all', nText = '20000', repsText = '5'] = process.argv.slice(2);
const n = Number(nText);
const reps = Number(repsText);
/** Frames prepared (PROBE_FRAMES, at least N): the same for two runs compared under callgrind, so their difference is events only. */
const prepared = Math.max(n, Number(process.env.PROBE_FRAMES ?? 0));

const frames = Array.from({ length: prepared }, (_, i) => patchText(BLAST_EPOCH, i + 1));
const parsed = frames.map((frame) => JSON.parse(frame) as Record<string, unknown>);
const channelFrames = Array.from({ length: prepared }, (_, i) => channelPatchText('prices', BLAST_EPOCH, i + 1));
const snapshot = snapshotText(BLAST_EPOCH, 0, {});
const welcome = JSON.stringify({ type: 'welcome', v: 2, client: 'probe', user: null, maxMessageBytes: 1_048_576, time: 0 });
const ops = parsed.map((p, i): SyncOutbound => ({ type: 'op', id: `op-${i}`, set: p.set as Record<string, unknown> }));

/** Ops left awaiting their ack before a send row is measured. */
function prefill(send: (op: SyncOutbound) => void, count: number): void {
  for (let i = 0; i < count; i++) send({ type: 'op', id: `pre-${i}`, set: { k: i } });
}

/** `send()` of n ops with the sync protocol while open, `waiting` ops already awaiting their ack (none is answered). */
function sendSync(n: number, waiting: number): void {
  const t = createTestConnection({ protocol: createSyncProtocol(), outbox: { limit: n + waiting + 1 } });
  t.open();
  prefill((op) => t.connection.send(op), waiting);
  for (let i = 0; i < n; i++) t.connection.send(ops[i]!);
  t.connection.stop();
}

const runs: Record<string, (n: number) => void> = {
  floor: (n) => {
    const store = createStore();
    store.update(JSON.parse(snapshot));
    for (let i = 0; i < n; i++) store.update(JSON.parse(frames[i]!));
  },
  actor: (n) => {
    const { config } = resolveOptions({ url: 'ws://probe.invalid/' }, FakeWebSocket as unknown as WebSocketConstructor);
    const actor = createActor(connectionMachine, { input: { config }, clock: new TestClock() });
    actor.start();
    actor.send({ type: 'client.connect' });
    actor.send({ type: 'socket.opened', url: 'ws://probe.invalid/', socketId: 1, at: 0 });
    for (let i = 0; i < n; i++) actor.send({ type: 'message.received', messages: [parsed[i]], socketId: 1, at: i });
    actor.stop();
  },
  raw: (n) => {
    const t = createTestConnection({ protocol: rawProtocol, model: createStore() });
    const socket = t.open();
    socket.receive(snapshot);
    for (let i = 0; i < n; i++) socket.receive(frames[i]!);
    t.connection.stop();
  },
  sync: (n) => readSync(n, snapshot, frames),
  channel: (n) => readChannel(n, welcome, channelFrames),
  'send-floor': (n) => {
    const socket = new FakeWebSocket('ws://probe.invalid/');
    socket.open();
    for (let i = 0; i < n; i++) socket.send(JSON.stringify(ops[i]));
  },
  'send-raw': (n) => {
    const t = createTestConnection({ protocol: rawProtocol, outbox: { limit: n + 1 } });
    t.open();
    for (let i = 0; i < n; i++) t.connection.send(ops[i]);
    t.connection.stop();
  },
  'send-sync-1': (n) => sendSync(n, 1),
  'send-sync-1000': (n) => sendSync(n, 1000),
};

const chosen = variantsText === 'all' ? Object.keys(runs) : variantsText.split(',');
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const results: Record<string, number> = {};
for (const name of chosen) {
  const run = runs[name];
  if (run === undefined) throw new Error(`unknown variant ${name}; one of ${Object.keys(runs).join(', ')}`);
  run(Math.max(1, Math.floor(n / 10)));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    gc();
    const start = process.hrtime.bigint();
    run(n);
    times.push(Number(process.hrtime.bigint() - start) / 1e3 / n);
  }
  times.sort((a, b) => a - b);
  results[name] = times[Math.floor(times.length / 2)]!;
  const floor = name.startsWith('send') ? results['send-floor'] : results.floor;
  const vs = floor === undefined || name === 'floor' || name === 'send-floor' ? '' : ` (${(results[name] / floor).toFixed(2)}× floor)`;
  const taken = `${fastPathStats.fast} fast (${fastPathStats.sourced} from a known source), ${fastPathStats.full} full`;
  fastPathStats.fast = fastPathStats.full = fastPathStats.sourced = 0;
  console.log(`${name.padEnd(16)} ${results[name].toFixed(2)} µs/event${vs}  [hot events: ${taken}]`);
}
