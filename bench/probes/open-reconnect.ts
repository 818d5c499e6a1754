// Probe for issue 15: scenario 3's "handshake done → open" in one process, as the scenario's client
// meets it: a connection with the smallest reconnect delays, whose server process is SIGKILLed and
// replaced (a standby binding the same port) OUTAGE ms later, CYCLES times. Between two opens the
// client retries against a closed port for the whole outage (15 to 30 failed attempts here), so each
// open runs once among many `connecting → errored` steps: never in a tight loop as
// bench/probes/open-path.ts runs it. Reported, never judged.
//   node --import tsx bench/probes/open-reconnect.ts [ws|statesocket] [CYCLES]   (OUTAGE ms, default 300)
// Under `--cpu-prof` (and `--trace-deopt`, `--trace-opt`) the profile shows what each reconnect's open runs.
import { connect, timedWebSocket, type Library } from '../adapters.js';
import { ServerProcess } from '../lib/children.js';
import { sleep, wallNow } from '../lib/time.js';
import { createCountingStore } from '../workload.js';

const library = (process.argv[2] ?? 'statesocket') as Library;
const cycles = Number(process.argv[3] ?? 20);
const outageMs = Number(process.env.OUTAGE ?? 300);

let active = await ServerProcess.start();
const port = active.port;
let socketOpenAt = NaN;
let attempts = 0;
const opens: Array<(at: number) => void> = [];
const handle = connect(library, {
  url: active.url,
  model: createCountingStore(),
  reconnect: 'fastest',
  WebSocket: timedWebSocket(
    () => attempts++,
    (at) => (socketOpenAt = at),
  ),
  onOpen: (at) => opens.shift()?.(at - socketOpenAt),
  // statesocket's adapter stops listening after the first open unless losses are asked about
  onDown: () => {},
});
const nextOpen = () => new Promise<number>((resolve) => opens.push(resolve));
const samples: number[] = [];
const attemptsPerCycle: number[] = [];
try {
  await nextOpen();
  for (let c = 0; c < cycles; c++) {
    const standby = await ServerProcess.standby();
    const attemptsBefore = attempts;
    const killedAt = wallNow();
    active.child.process.kill('SIGKILL');
    await active.child.exited;
    await sleep(killedAt + outageMs - wallNow());
    const opened = nextOpen();
    await standby.listen(port);
    samples.push(await opened);
    attemptsPerCycle.push(attempts - attemptsBefore);
    await active.kill();
    active = standby;
    await sleep(50);
  }
} finally {
  handle.close();
  await active.kill();
}
console.log(`${library}: handshake done → open per cycle, ms: ${samples.map((s) => s.toFixed(3)).join(' ')}`);
console.log(`${library}: sockets constructed per cycle (failed retries during the outage, and the one that opened): ${attemptsPerCycle.join(' ')}`);
const sorted = [...samples].sort((a, b) => a - b);
console.log(`${library}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)} ms over ${samples.length} cycles`);
