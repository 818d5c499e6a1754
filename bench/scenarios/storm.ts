/**
 * Scenario 3b: the reconnect storm. 1,000 connections of one library, each
 * with the library's default reconnect settings; the server is SIGKILLed and
 * a new one binds the same port `outageMs` later. How spread out are the
 * reconnects, and how many connections does the new server accept in its
 * busiest 100 ms? A storm has no spread; full jitter spreads the clients
 * over the backoff window.
 */
import { LIBRARIES, type Library } from '../adapters.js';
import { ServerProcess, clientGraceMs, forkClient, type Child } from '../lib/children.js';
import { rotate } from '../lib/profile.js';
import { cell, num } from '../lib/report.js';
import { histogram, percentile, summarize } from '../lib/stats.js';
import { sleep, wallNow } from '../lib/time.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

interface Run {
  reopened: number;
  clients: number;
  /** Reopen times after the new server listened, ms: p0, p10, p50, p90, p100. */
  reopenMs: { p0: number; p10: number; p50: number; p90: number; p100: number };
  /** Connections reopened per 100 ms after the new server listened. */
  reopensPer100Ms: number[];
  /** Connections the new server accepted per 100 ms after it listened. */
  acceptsPer100Ms: number[];
  killToDownMsP50: number;
  peakAcceptsPer100Ms: number;
}

async function runOnce(ctx: ScenarioContext, library: Library): Promise<Run> {
  const { clients, outageMs, waitMs, batch } = ctx.profile.storm;
  const active = await ServerProcess.start(`storm server (${library})`);
  const standby = ServerProcess.standby(`storm standby (${library})`);
  let client: Child | undefined;
  try {
    const openTimeoutMs = 30_000 + clients * 20;
    client = await forkClient(`storm client (${library})`, 'storm', { library, url: active.url, clients, batch, openTimeoutMs });
    await client.next('ready', openTimeoutMs + 30_000);
    const replacement = await standby;
    await sleep(200);
    const killedAt = wallNow();
    active.signal('SIGKILL');
    await sleep(killedAt + outageMs - wallNow());
    const listenedAt = await replacement.listen(active.port);
    const result = await client.next('result', waitMs).catch(async () => {
      client!.send({ type: 'finish' });
      return client!.next('result', 10_000);
    });
    const { accepts } = await replacement.stats();
    const reopenAt = (result.reopenAt as number[]).filter((t) => t !== null && Number.isFinite(t));
    const downAt = (result.downAt as number[]).filter((t) => t !== null && Number.isFinite(t));
    const reopenMs = reopenAt.map((t) => t - listenedAt);
    const acceptsPer100Ms = histogram(accepts, listenedAt, 100);
    return {
      clients,
      reopened: reopenAt.length,
      reopenMs: {
        p0: percentile(reopenMs, 0),
        p10: percentile(reopenMs, 10),
        p50: percentile(reopenMs, 50),
        p90: percentile(reopenMs, 90),
        p100: percentile(reopenMs, 100),
      },
      reopensPer100Ms: histogram(reopenAt, listenedAt, 100),
      acceptsPer100Ms,
      killToDownMsP50: percentile(downAt.map((t) => t - killedAt), 50),
      peakAcceptsPer100Ms: Math.max(0, ...acceptsPer100Ms),
    };
  } finally {
    client?.send({ type: 'finish' });
    await client?.kill(clientGraceMs());
    await active.kill();
    await standby.then((s) => s.kill(), () => undefined);
  }
}

export async function stormScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { clients, outageMs, repetitions } = ctx.profile.storm;
  const data = Object.fromEntries(LIBRARIES.map((l) => [l, [] as Run[]])) as Record<Library, Run[]>;
  for (let rep = 0; rep < repetitions; rep++) {
    for (const library of rotate(LIBRARIES, rep)) {
      const run = await runOnce(ctx, library);
      data[library].push(run);
      ctx.log(`storm ${library}: ${run.reopened}/${run.clients} back, p10–p90 ${num(run.reopenMs.p10)}–${num(run.reopenMs.p90)} ms, peak ${run.peakAcceptsPer100Ms}/100 ms`);
    }
  }
  const rows = LIBRARIES.map((library) => {
    const runs = data[library];
    const q = (p: keyof Run['reopenMs']) => summarize(runs.map((r) => r.reopenMs[p]));
    return [
      library,
      cell(summarize(runs.map((r) => r.reopened))) + ` of ${num(clients)}`,
      cell(q('p0')),
      cell(q('p50')),
      cell(summarize(runs.map((r) => r.reopenMs.p90 - r.reopenMs.p10))),
      cell(q('p100')),
      cell(summarize(runs.map((r) => r.peakAcceptsPer100Ms))),
    ];
  });
  return {
    params: { clients, outageMs, repetitions },
    tables: [
      {
        columns: ['client (default settings)', 'reconnected', 'first open ms', 'p50 open ms', 'spread p10→p90 ms', 'last open ms', 'peak accepts per 100 ms'],
        rows,
        notes: [
          `${num(clients)} connections in one client process; SIGKILL the server, ${outageMs} ms later a new server process binds the same port. Times are from the new server listening.`,
          'Default reconnect settings: statesocket full jitter (`random() × min(30 s, 500 ms × 2^attempt)`); partysocket a flat 3 s first delay (no jitter); reconnecting-websocket a first delay of 1–5 s drawn once when the module loads, so every connection in a process waits the same time; raw ws retries at once (the naive loop).',
          '"Peak accepts per 100 ms" is counted by the new server. One server process completes only so many handshakes per 100 ms (the naive ws loop shows that capacity), so even a storm takes a few hundred ms to drain: a storm shows as a peak at that capacity, jitter as a wider spread and a lower peak.',
        ],
      },
    ],
    targets: [],
    data,
  };
}
