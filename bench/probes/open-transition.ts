// Probe for issue 15: the cost of `socket.opened` through a connection (the macrostep into `open`: the
// chart's full path, as every event that changes state takes), on a TestClock and a FakeWebSocket, no
// network. Each round opens the newest socket (timed), drops it and lets the retry timer fire.
//   node --import tsx bench/probes/open-transition.ts [sync|raw|channel] [ROUNDS]   (WARM, default 2000;
//   FRESH=1: a new connection each round, as every connect of a real client's first open;
//   PAUSE=MS: the process sleeps MS ms before each open, as scenario 3's client does between two opens:
//   the same warm code, but the CPU's caches hold other processes' data by then; it also times the open
//   right after, once dropped and retried, with no sleep between)
import { performance } from 'node:perf_hooks';
import { rawProtocol } from '../../src/protocol.js';
import { createSyncProtocol } from '../../src/sync/client-protocol.js';
import { createChannelProtocol } from '../../src/sync/client-protocol-v2.js';
import { createTestConnection } from '../../src/testing/test-connection.js';

const kind = process.argv[2] ?? 'sync';
const rounds = Number(process.argv[3] ?? 20_000);
const warm = Number(process.env.WARM ?? 2_000);
const protocol = kind === 'raw' ? rawProtocol : kind === 'channel' ? createChannelProtocol() : createSyncProtocol();
const fresh = process.env.FRESH === '1';
const pauseMs = Number(process.env.PAUSE ?? 0);
const make = () => {
  const made = createTestConnection({ protocol: protocol as never, reconnect: { initialDelayMs: 0, maxDelayMs: 0, factor: 1 } });
  made.connection.start();
  return made;
};
let t = make();
const samples: number[] = [];
const next: number[] = [];
/** Opens the connection's newest socket; returns how long `socket.opened` took, then drops it and lets the retry timer fire. */
const openOnce = (): number => {
  const socket = t.socket;
  const started = performance.now();
  socket.open();
  const took = performance.now() - started;
  if (t.connection.getStatus().state !== 'open') throw new Error(`not open: ${t.connection.getStatus().state}`);
  socket.drop();
  t.advance(1);
  if (t.socket === socket) throw new Error('no new socket after the retry');
  return took;
};
for (let round = 0; round < warm + rounds; round++) {
  if (fresh && round > 0) {
    t.connection.stop();
    t = make();
  }
  if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  const took = openOnce();
  if (round >= warm) samples.push(took);
  if (pauseMs > 0) {
    const again = openOnce();
    if (round >= warm) next.push(again);
  }
}
t.connection.stop();
const summary = (list: number[]) => {
  list.sort((a, b) => a - b);
  const at = (q: number) => list[Math.min(list.length - 1, Math.floor(q * list.length))]! * 1000;
  return `median ${at(0.5).toFixed(1)}, p10 ${at(0.1).toFixed(1)}, p90 ${at(0.9).toFixed(1)}`;
};
console.log(`${kind}: socket.opened → open, µs over ${samples.length} rounds: ${summary(samples)}`);
if (next.length > 0) console.log(`${kind}: the open right after (dropped and retried, no sleep), µs: ${summary(next)}`);
