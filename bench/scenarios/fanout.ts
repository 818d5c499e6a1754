/**
 * Scenario 2: fan-in/out at scale. One client process holds 1k (then 10k)
 * connections of one library; the server broadcasts a patch to all of them at
 * a fixed rate. Heap and RSS per connection after GC, event-loop delay p99
 * while the broadcast runs.
 */
import { LIBRARIES, type Library } from '../adapters.js';
import { ServerProcess, clientGraceMs, forkClient } from '../lib/children.js';
import { rotate } from '../lib/profile.js';
import { cell, num, ratio, verdict, type Table, type TargetCheck } from '../lib/report.js';
import { pairedRatios, summarize } from '../lib/stats.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

interface Run {
  heapPerConnection: number;
  rssPerConnection: number;
  externalPerConnection: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  receivedInWindowMedian: number;
  receivedMin: number;
  expected: number;
  connectSeconds: number;
}

export const HEAP_TARGET = 1.5;
/** Issue 15: the floor that must hold whatever else happens. */
export const HEAP_MUST_HOLD = 2.2;
/** Issue 15: event-loop delay p99 while broadcasting, at most this many times raw ws's. */
export const DELAY_TARGET = 1.5;
/** The libraries the targets compare: they run `judgedRepetitions`, the others `repetitions`. */
const JUDGED: readonly Library[] = ['ws', 'statesocket'];
/** How long a client that fell behind the broadcast gets to catch up before its heap is read. */
const CATCH_UP_MS = 30_000;

export async function fanoutScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { sizes, ratePerSec, windowMs, repetitions, judgedRepetitions, batch } = ctx.profile.fanout;
  const reps = Math.max(repetitions, judgedRepetitions);
  const data: Record<string, Record<Library, Run[]>> = {};
  const tables: Table[] = [];
  const targets: TargetCheck[] = [];
  for (const size of sizes) {
    const runs = Object.fromEntries(LIBRARIES.map((l) => [l, [] as Run[]])) as Record<Library, Run[]>;
    data[size] = runs;
    const openTimeoutMs = 30_000 + size * 10;
    for (let rep = 0; rep < reps; rep++) {
      const libraries = rotate(LIBRARIES, rep).filter((l) => rep < (JUDGED.includes(l) ? judgedRepetitions : repetitions));
      for (const library of libraries) {
        const server = await ServerProcess.start();
        const client = await forkClient(`fan-out client (${library}, ${size})`, 'fanout', { library, url: server.url, connections: size, batch, openTimeoutMs }, { exposeGc: true });
        try {
          const ready = await client.next('ready', openTimeoutMs + 30_000);
          const expected = Math.round((ratePerSec * windowMs) / 1000);
          server.broadcast(ratePerSec, expected);
          client.send({ type: 'measure', windowMs, expected, catchUpMs: CATCH_UP_MS });
          const result = (await client.next('result', windowMs + CATCH_UP_MS + 60_000)) as unknown as Run;
          result.connectSeconds = Number(ready.connectSeconds);
          runs[library].push(result);
          ctx.log(`fan-out ${size} ${library}: ${num(result.heapPerConnection / 1024, 1)} KiB heap/connection, p99 delay ${num(result.eventLoopDelayP99Ms, 1)} ms`);
        } finally {
          await client.kill(clientGraceMs());
          await server.kill();
        }
      }
    }
    const pick = (library: Library, f: (r: Run) => number) => summarize(runs[library].map(f));
    const heapFloor = pick('ws', (r) => r.heapPerConnection).median;
    const rssFloor = pick('ws', (r) => r.rssPerConnection).median;
    tables.push({
      title: `${num(size)} connections`,
      columns: ['client', 'heap KiB/connection', 'vs raw ws', 'RSS KiB/connection', 'vs raw ws', 'event-loop delay p99 ms', 'connect all (s)', 'patches received in the window (median of connections) / sent', `target heap ≤ ${HEAP_TARGET}× (worst repetition)`, `target delay p99 ≤ ${DELAY_TARGET}× (worst repetition)`],
      rows: LIBRARIES.map((library) => {
        const heap = pick(library, (r) => r.heapPerConnection);
        const rss = pick(library, (r) => r.rssPerConnection);
        let met: boolean | null = null;
        let delayCell = '';
        if (library === 'statesocket') {
          // Issue 15: judged on the worst repetition, each against raw ws's of the same repetition.
          const heapRatios = pairedRatios(runs.statesocket.map((r) => r.heapPerConnection), runs.ws.map((r) => r.heapPerConnection), 'highest');
          const delayRatios = pairedRatios(runs.statesocket.map((r) => r.eventLoopDelayP99Ms), runs.ws.map((r) => r.eventLoopDelayP99Ms), 'highest');
          const worstOf = `worst of ${heapRatios.ratios.length}`;
          const judge = (value: number, limit: number) => (Number.isFinite(value) ? value <= limit : null);
          met = judge(heapRatios.worst, HEAP_TARGET);
          const delayMet = judge(delayRatios.worst, DELAY_TARGET);
          const measured = (r: typeof heapRatios) => `${num(r.worst, 2)}× (median ${num(r.median, 2)}×)`;
          targets.push(
            { name: `heap per connection at ${num(size)} (${worstOf})`, required: `≤ ${HEAP_TARGET}× raw ws`, measured: measured(heapRatios), met },
            { name: `must hold: heap per connection at ${num(size)} (${worstOf})`, required: `≤ ${HEAP_MUST_HOLD}× raw ws`, measured: measured(heapRatios), met: judge(heapRatios.worst, HEAP_MUST_HOLD) },
            { name: `event-loop delay p99, ${num(size)} connections broadcast to (${worstOf})`, required: `≤ ${DELAY_TARGET}× raw ws`, measured: measured(delayRatios), met: delayMet },
          );
          delayCell = `${num(delayRatios.worst, 2)}× ${verdict(delayMet)}`;
        }
        return [
          library,
          cell(summarize(runs[library].map((r) => r.heapPerConnection / 1024)), 1),
          ratio(heap.median, heapFloor),
          cell(summarize(runs[library].map((r) => r.rssPerConnection / 1024)), 1),
          ratio(rss.median, rssFloor),
          cell(pick(library, (r) => r.eventLoopDelayP99Ms), 1),
          cell(pick(library, (r) => r.connectSeconds), 2),
          `${cell(pick(library, (r) => r.receivedInWindowMedian))} / ${cell(pick(library, (r) => r.expected))}`,
          library === 'statesocket' ? verdict(met) : '',
          delayCell,
        ];
      }),
    });
  }
  tables.at(-1)!.notes = [
    `One client process per library and size (\`--expose-gc\`), a fresh server per run; connections opened ${batch} at a time, each applying a snapshot and every patch to its own \`createStore()\`. raw ws and statesocket run ${judgedRepetitions} repetition(s), the other libraries ${repetitions}; the order rotates every repetition.`,
    'The targets (issue 15) are judged on the worst repetition: statesocket\'s heap per connection and event-loop delay p99 divided by raw ws\'s of the same repetition; the cells are medians (min–max).',
    `The server broadcasts one patch to every connection ${ratePerSec} times per second for ${windowMs / 1000} s; the event-loop delay (\`monitorEventLoopDelay\`, 10 ms resolution) is sampled meanwhile. A client that falls behind gets up to ${CATCH_UP_MS / 1000} s to catch up before its heap is read.`,
    'Heap and RSS per connection: (after GC with every connection open and fed) − (after GC before the first connection), divided by the connection count. statesocket runs the sync protocol and default options; the others their defaults.',
  ];
  return { params: { sizes, ratePerSec, windowMs, repetitions, batch }, tables, targets, data };
}
