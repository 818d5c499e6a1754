/**
 * Scenario 4: half-open detection. All four libraries hold one connection to
 * the same server; the server process is SIGSTOPped (its kernel keeps the TCP
 * connections established and ACKs what arrives, but nothing answers) for a
 * bounded time. statesocket runs its heartbeat; the others have none.
 */
import { LIBRARIES, type Library } from '../adapters.js';
import { ServerProcess, clientGraceMs, forkClient, type Child } from '../lib/children.js';
import { cell, num, verdict, type TargetCheck } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { sleep, wallNow } from '../lib/time.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

/** Slack allowed over intervalMs + timeoutMs for detection. */
export const HALF_OPEN_SLACK_MS = 50;

export async function halfOpenScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { intervalMs, timeoutMs, repetitions, graceMs } = ctx.profile.halfOpen;
  const boundMs = intervalMs + timeoutMs + HALF_OPEN_SLACK_MS;
  const stoppedForMs = intervalMs + timeoutMs + graceMs;
  const data = Object.fromEntries(LIBRARIES.map((l) => [l, [] as Array<number | null>])) as Record<Library, Array<number | null>>;
  for (let rep = 0; rep < repetitions; rep++) {
    const server = await ServerProcess.start();
    let client: Child | undefined;
    try {
      client = await forkClient('half-open client', 'half-open', { url: server.url, heartbeat: { intervalMs, timeoutMs }, openTimeoutMs: 20_000 });
      await client.next('ready', 30_000);
      // Stop at a different point of the heartbeat cycle each repetition.
      await sleep(200 + ((rep + 0.5) / repetitions) * intervalMs);
      const stoppedAt = wallNow();
      server.signal('SIGSTOP');
      await sleep(stoppedForMs);
      client.send({ type: 'finish' });
      const result = await client.next('result', 10_000);
      const downs = result.downs as Partial<Record<Library, number>>;
      for (const library of LIBRARIES) {
        const at = downs[library];
        data[library].push(at !== undefined && at >= stoppedAt ? at - stoppedAt : null);
      }
      ctx.log(`half-open ${rep + 1}/${repetitions}: statesocket ${num(data.statesocket.at(-1) ?? NaN)} ms`);
    } finally {
      server.signal('SIGCONT');
      await client?.kill(clientGraceMs());
      await server.kill();
    }
  }
  const targets: TargetCheck[] = [];
  const rows = LIBRARIES.map((library) => {
    const times = data[library].filter((t): t is number => t !== null);
    const detected = times.length;
    let met: boolean | null = null;
    if (library === 'statesocket') {
      met = detected === repetitions && Math.max(...times) <= boundMs;
      targets.push({
        name: 'half-open detected',
        required: `every time, ≤ interval + timeout + ${HALF_OPEN_SLACK_MS} ms (${num(boundMs)} ms)`,
        measured: detected === 0 ? 'not detected' : `${detected} of ${repetitions}, max ${num(Math.max(...times))} ms`,
        met,
      });
    }
    return [
      library,
      library === 'statesocket' ? `on (${intervalMs} ms / ${timeoutMs} ms)` : 'none',
      detected === 0 ? `not detected (${repetitions} of ${repetitions})` : `${detected} of ${repetitions}`,
      detected === 0 ? '–' : cell(summarize(times)),
      met === null ? '' : verdict(met),
    ];
  });
  return {
    params: { intervalMs, timeoutMs, repetitions, stoppedForMs },
    tables: [
      {
        columns: ['client', 'heartbeat (interval / timeout)', 'detected', 'SIGSTOP → errored ms', `target ≤ ${num(boundMs)} ms`],
        rows,
        notes: [
          `The server process is SIGSTOPped for ${num(stoppedForMs)} ms (interval + timeout + ${num(graceMs)} ms), then SIGCONTed and killed; a loss reported after that is "not detected".`,
          'The stop falls at a different point of the heartbeat cycle each repetition; the worst case is a stop just after a pong: the next ping goes out up to one interval later and times out `timeoutMs` after that.',
        ],
      },
    ],
    targets,
    data,
  };
}
