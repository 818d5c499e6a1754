// Probe for issue 15: the open path, from `ws` completing the handshake to the library reporting `open`
// (scenario 3's "socket open → open"), measured in one process over many connects to a bench server
// (a child process) that greets each with a snapshot. Each round connects one connection, waits for
// `open`, and stops it; the first WARM rounds are left out. Reported, never judged.
//   node --import tsx bench/probes/open-path.ts [ws|statesocket|raw|channel] [ROUNDS]   (WARM, default 200)
// Under `--cpu-prof` the profile shows what the open path runs.
import { connect, timedWebSocket, type BenchConnection } from '../adapters.js';
import { ServerProcess } from '../lib/children.js';
import { createCountingStore } from '../workload.js';

const kind = process.argv[2] ?? 'statesocket';
const rounds = Number(process.argv[3] ?? 1000);
const warm = Number(process.env.WARM ?? 200);

const server = await ServerProcess.start();
const samples: number[] = [];
try {
  for (let round = 0; round < warm + rounds; round++) {
    let socketOpenAt = NaN;
    let handle: BenchConnection | null = null;
    const openAt = await new Promise<number>((resolve) => {
      const WebSocket = timedWebSocket(() => {}, (at) => (socketOpenAt = at));
      const library = kind === 'ws' ? 'ws' : 'statesocket';
      const protocol = kind === 'raw' ? 'raw' : kind === 'channel' ? 'channel' : 'sync';
      handle = connect(library, { url: server.url, model: createCountingStore(), reconnect: 'none', protocol, WebSocket, onOpen: resolve });
    });
    (handle as BenchConnection | null)?.close();
    if (round >= warm) samples.push(openAt - socketOpenAt);
    // let the close finish before the next connect
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
} finally {
  await server.kill();
}
samples.sort((a, b) => a - b);
const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
console.log(`${kind}: socket open → open, ms over ${samples.length} rounds: median ${at(0.5).toFixed(3)}, p10 ${at(0.1).toFixed(3)}, p90 ${at(0.9).toFixed(3)}`);
