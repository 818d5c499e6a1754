/**
 * Scenario 11: issue 14's "the memory engine's path is no slower in the bench, judged on the worst
 * of 5 repetitions", in one run. This checkout's reference server (memory engine) and the one of
 * commit 7a19d3a (before the engine interface; built from git history by bench/lib/baseline.ts),
 * each in a child process of its own running the same role (bench/roles/sync-server.ts), take the
 * same workload in turn, `repetitions` times, the order alternating (current first, then baseline
 * first, …); a fresh server and fresh load processes for every turn.
 *
 * A turn: raw `ws` version 2 connections from two load processes (bench/roles/channel-load.ts),
 * a few on a few hot channels and a population like scenario 9's. (a) Ops as fast as acks allow:
 * each hot connection keeps `floodWindow` ops in flight, the next sent as an ack comes back;
 * acked ops per second counted by the load over the server's window, with the server's CPU and
 * event-loop delay in that window. (b) Scenario 9's feed + ops: a server-side feed round robin over
 * the population's channels and ops from its connections at fixed rates; the server's event-loop
 * delay and CPU over the window.
 *
 * The judgement (docs/benchmarks.md): the worst repetition of each server against the other's
 * worst; throughput's worst is the lowest, delay's the highest.
 */
import { clientGraceMs, forkClient, type Child } from '../lib/children.js';
import { BASELINE_COMMIT, buildBaseline, buildCurrentServer } from '../lib/baseline.js';
import { rotate } from '../lib/profile.js';
import { num, ratio, type TargetCheck } from '../lib/report.js';
import { summarize, type Summary } from '../lib/stats.js';
import { SyncServerChild, openFilesLimit, type LoopDelay } from '../lib/sync-server.js';
import { sleep } from '../lib/time.js';
import type { ChannelLoadParams } from '../roles/channel-load.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

const HOT_PREFIX = 'hot-';
const LOAD_PREFIX = 'load-';
/** Time for a rate to settle (and the server's JIT to warm) before its window. */
const SETTLE_MS = 300;
/** Descriptors a process needs besides its sockets (stdio, IPC, the listener, libuv). */
const SPARE_DESCRIPTORS = 64;

type Kind = 'current' | 'baseline';

interface Turn {
  kind: Kind;
  rep: number;
  /** (a) acked ops a second, over the load's marks around the server's window. */
  opsPerSec: number;
  /** (a) server CPU per acked op, µs. */
  cpuUsPerOp: number;
  flood: LoopDelay;
  floodAckP99Ms: number;
  /** (b) the server under the feed and the population's ops. */
  feedOps: LoopDelay;
  feedOpsAckP99Ms: number;
}

export async function engineBaselineScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const p = ctx.profile.engineBaseline;
  const connections = p.connections + p.floodConnections;
  const limit = openFilesLimit();
  if (limit !== undefined && limit < connections + SPARE_DESCRIPTORS) {
    throw new Error(`ulimit -n is ${limit}: the server process needs ${connections + SPARE_DESCRIPTORS} descriptors for ${connections} connections; raise it (ulimit -n ${connections * 2}) and run again`);
  }
  const baseline = await buildBaseline();
  if (!baseline.available) ctx.log(`engine-baseline: no baseline server (${baseline.reason}); the current server's rows only, not judged`);
  const kinds: Kind[] = baseline.available ? ['current', 'baseline'] : ['current'];
  const modules: Record<Kind, string | undefined> = { current: await buildCurrentServer(), baseline: baseline.available ? baseline.modulePath : undefined };
  const turns: Turn[] = [];
  for (let rep = 0; rep < p.repetitions; rep++) {
    for (const kind of rotate(kinds, rep)) {
      const turn = await runTurn(ctx, kind, rep, modules[kind]);
      ctx.log(`engine-baseline: rep ${rep + 1} ${kind}: ${num(turn.opsPerSec)} acked ops/s at ${num(turn.cpuUsPerOp, 1)} µs CPU each; feed + ops p99 ${num(turn.feedOps.p99Ms, 2)} ms`);
      turns.push(turn);
    }
  }

  const of = (kind: Kind) => turns.filter((t) => t.kind === kind);
  const rows = (kind: Kind) => {
    const ts = of(kind);
    return {
      opsPerSec: summarize(ts.map((t) => t.opsPerSec)),
      cpuUsPerOp: summarize(ts.map((t) => t.cpuUsPerOp)),
      floodP99: summarize(ts.map((t) => t.flood.p99Ms)),
      floodAckP99: summarize(ts.map((t) => t.floodAckP99Ms)),
      feedOpsP99: summarize(ts.map((t) => t.feedOps.p99Ms)),
      feedOpsMax: summarize(ts.map((t) => t.feedOps.maxMs)),
      feedOpsCpu: summarize(ts.map((t) => t.feedOps.cpuShare * 100)),
      feedOpsAckP99: summarize(ts.map((t) => t.feedOpsAckP99Ms)),
    };
  };
  const current = rows('current');
  const base = baseline.available ? rows('baseline') : undefined;
  const baseLabel = baseline.available ? `baseline (${BASELINE_COMMIT}, before the engine interface)` : `baseline (${BASELINE_COMMIT}): not measured`;
  const unavailable = baseline.available ? undefined : `not measured: ${baseline.reason}`;
  const worstCell = (s: Summary, worst: 'min' | 'max', digits: number) => `${num(s[worst], digits)} (median ${num(s.median, digits)})`;
  const row = (label: string, cells: (r: ReturnType<typeof rows>) => string[]) =>
    base !== undefined ? [[label, ...cells(current)], [baseLabel, ...cells(base)]] : [[label, ...cells(current)], [baseLabel, ...cells(current).map(() => '–')]];

  const targets: TargetCheck[] = [
    judge(`acked ops/s, ${p.floodConnections} connections × ${p.floodWindow} in flight, worst of ${p.repetitions} (lowest)`, current.opsPerSec.min, base?.opsPerSec.min, 'higher', 0, unavailable),
    judge(`event-loop delay p99 under the feed + ops, worst of ${p.repetitions} (highest)`, current.feedOpsP99.max, base?.feedOpsP99.max, 'lower', 2, unavailable),
  ];
  const order = kinds.length === 2 ? 'The two servers take turns, the first alternating (current, baseline; then baseline, current; …), each turn on a fresh server and fresh load processes.' : '';
  return {
    params: { ...p, baselineCommit: BASELINE_COMMIT, baseline: baseline.available ? baseline.commit : baseline.reason },
    tables: [
      {
        title: `(a) Ops as fast as acks allow: ${p.floodConnections} connections on ${p.floodChannels} channels, ${p.floodWindow} ops in flight each (${p.repetitions} repetitions; worst, then median)`,
        columns: ['server (memory engine path)', 'acked ops/s (worst = lowest)', 'server CPU per op, µs (worst = highest)', 'event-loop delay p99, ms', 'send → ack p99, ms'],
        rows: row('current (this checkout)', (r) => [worstCell(r.opsPerSec, 'min', 0), worstCell(r.cpuUsPerOp, 'max', 1), worstCell(r.floodP99, 'max', 2), worstCell(r.floodAckP99, 'max', 2)]),
        notes: [
          `Ratio current / baseline, worst against worst: acked ops/s ${base ? ratio(current.opsPerSec.min, base.opsPerSec.min) : '–'}, CPU per op ${base ? ratio(current.cpuUsPerOp.max, base.cpuUsPerOp.max) : '–'}.`,
          `Each op sets one row (\`op {channel, n, set}\`) and reaches every subscriber of its channel as a patch (${num(p.floodConnections / p.floodChannels, 1)} connections per channel). Rates over a ${num(p.windowMs / 1000, 1)} s window after ${SETTLE_MS} ms of settling; CPU is the server process's user + system time in its window divided by the acks the load counted in that window.`,
          ...(unavailable ? [`Baseline ${unavailable}`] : []),
        ],
      },
      {
        title: `(b) Scenario 9's feed + ops: ${num(p.connections)} connections × ${p.perConnection} over ${num(p.channels)} channels, a ${num(p.feedRatePerSec)} changes/s feed and ${num(p.opsRatePerSec)} ops/s`,
        columns: ['server (memory engine path)', 'event-loop delay p99, ms (worst = highest)', 'max, ms', 'server CPU, % of one core', 'send → ack p99, ms'],
        rows: row('current (this checkout)', (r) => [worstCell(r.feedOpsP99, 'max', 2), worstCell(r.feedOpsMax, 'max', 1), worstCell(r.feedOpsCpu, 'max', 1), worstCell(r.feedOpsAckP99, 'max', 2)]),
        notes: [
          `Ratio current / baseline, worst against worst: p99 ${base ? ratio(current.feedOpsP99.max, base.feedOpsP99.max) : '–'}, CPU ${base ? ratio(current.feedOpsCpu.max, base.feedOpsCpu.max) : '–'}.`,
          `\`monitorEventLoopDelay\` at 1 ms resolution over ${num(p.windowMs / 1000, 1)} s (an idle loop reads about 1 ms). ${order}`,
          `Both servers run this checkout's bench role and packages (\`ws\`, \`xstate\`) from one entry bundled with esbuild at bench time (bench/lib/baseline.ts), over this checkout's \`src\` or over the \`src\` and \`machines\` of \`git archive ${BASELINE_COMMIT}\`.`,
        ],
      },
    ],
    targets,
    data: { baseline, turns },
  };
}

/** One check, worst against worst; n/a (with the reason) when the baseline was not measured. */
function judge(name: string, current: number, baseline: number | undefined, better: 'higher' | 'lower', digits: number, unavailable: string | undefined): TargetCheck {
  const required = better === 'higher' ? '≥ the baseline server\'s worst' : '≤ the baseline server\'s worst';
  if (baseline === undefined) return { name, required, measured: `${num(current, digits)}; baseline ${unavailable ?? 'not measured'}`, met: null };
  const met = better === 'higher' ? current >= baseline : current <= baseline;
  return { name, required, measured: `${num(current, digits)} vs ${num(baseline, digits)} (${ratio(current, baseline)})`, met };
}

async function runTurn(ctx: ScenarioContext, kind: Kind, rep: number, modulePath: string | undefined): Promise<Turn> {
  const p = ctx.profile.engineBaseline;
  // Every connection comes from 127.0.0.1: the per-address cap (default 1,000) is raised to let them in.
  const options = { maxConnectionsPerAddress: p.connections + p.floodConnections + 100 };
  const server = await SyncServerChild.start(`${kind} server`, options, modulePath);
  const loads: Child[] = [];
  try {
    const timeoutMs = 30_000 + (p.connections + p.floodConnections) * 30;
    const load = async (name: string, params: ChannelLoadParams) => {
      const child = await forkClient(name, 'channel-load', { ...params });
      loads.push(child);
      return child;
    };
    const common = { url: server.url, batch: p.batch, timeoutMs };
    // Client ids are `load-{first + i}`: the hot connections number on after the population's.
    const population = await load(`${kind} feed load`, { ...common, first: 0, connections: p.connections, perConnection: p.perConnection, channelCount: p.channels, prefix: LOAD_PREFIX });
    const hot = await load(`${kind} hot load`, { ...common, first: p.connections, connections: p.floodConnections, perConnection: 1, channelCount: p.floodChannels, prefix: HOT_PREFIX });
    await Promise.all(loads.map((child) => child.next('connected', timeoutMs + 10_000)));
    for (const child of loads) child.send({ type: 'subscribe' });
    await Promise.all(loads.map((child) => child.next('subscribed', timeoutMs + 10_000)));

    // (a) ops as fast as acks allow
    hot.send({ type: 'flood', window: p.floodWindow });
    await hot.next('flood-started', 10_000);
    await sleep(SETTLE_MS);
    const before = await mark(hot);
    const flood = await server.loopDelay(p.windowMs);
    const after = await mark(hot);
    hot.send({ type: 'flood-stop' });
    const flooded = await hot.next('flood-stopped', 30_000);
    const acked = after.acks - before.acks;
    if (acked <= 0) throw new Error(`${kind} server: no op was acked in ${p.windowMs} ms of flooding`);
    const opsPerSec = (acked * 1000) / (after.at - before.at);
    const cpuUsPerOp = (flood.cpuShare * 1e6) / opsPerSec;

    // (b) scenario 9's feed + ops
    await server.feed(LOAD_PREFIX, p.channels, p.feedRatePerSec);
    population.send({ type: 'ops', ratePerSec: p.opsRatePerSec });
    await population.next('ops-started', 10_000);
    await sleep(SETTLE_MS);
    const feedOps = await server.loopDelay(p.windowMs);
    population.send({ type: 'ops-stop' });
    const ops = await population.next('ops-stopped', 30_000);
    await server.stopFeed();

    // Nothing refused, nothing closed: the figures are of a server doing all it was asked.
    for (const child of loads) child.send({ type: 'counts' });
    const counts = await Promise.all(loads.map((child) => child.next('counts', 10_000)));
    for (const [i, c] of counts.entries()) {
      if (Number(c.errors) + Number(c.refused) + Number(c.closed) > 0) {
        throw new Error(`${kind} server: ${loads[i]!.name} saw ${c.errors} error frames, ${c.refused} refusals, ${c.closed} closes (first: ${(c.refusals as string[]).join(' ')})`);
      }
    }
    for (const [name, stopped] of [['flood', flooded], ['ops', ops]] as const) {
      if (Number(stopped.unanswered) > 0) throw new Error(`${kind} server: ${stopped.unanswered} ${name} ops never acked`);
    }
    return { kind, rep, opsPerSec, cpuUsPerOp, flood, floodAckP99Ms: Number(flooded.ackP99Ms), feedOps, feedOpsAckP99Ms: Number(ops.ackP99Ms) };
  } finally {
    for (const child of loads) child.send({ type: 'finish' });
    await Promise.all(loads.map((child) => child.kill(clientGraceMs())));
    await server.stop();
  }
}

async function mark(load: Child): Promise<{ acks: number; at: number }> {
  load.send({ type: 'flood-mark' });
  const marked = await load.next('flood-mark', 10_000);
  return { acks: Number(marked.acks), at: Number(marked.at) };
}
