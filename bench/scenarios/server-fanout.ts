/**
 * Scenario 10: the server's side of a fan-out (issue 14, "How it scales, measured"). One feed
 * (server changes on one channel) to N connections, from each server kind in `SERVER_ROWS`:
 * statesocket on the memory engine, on the Redis engine (one instance, and two sharing the
 * channel), raw `ws` broadcast (the floor) and socket.io with its Redis adapter. Each server instance runs in a process of its own (bench/roles/fanout-server.ts) and
 * measures only itself; the receivers run in `receivers` other processes
 * (bench/roles/fanout-receiver.ts). Two feeds per row:
 *
 * - a steady rate (`offeredDeliveriesPerSec` / N changes a second): change → subscriber latency,
 *   per delivery and until every subscriber had it, with the server's event-loop delay;
 * - saturation: the same feed offered faster than any server here sends it, never more than
 *   `aheadDeliveries` past the lowest seq every receiver has (a closed loop: no buffer grows
 *   without bound, no slow-consumer close): deliveries per second and the server's CPU time per
 *   delivery.
 *
 * Ratios are against raw `ws` in the same run. A row with several instances splits its receivers
 * across them (connection i on instance i mod instances) and runs the feed on the first: the
 * changes reach the other instances' subscribers through Redis, and "every subscriber" spans them
 * all. The rows on Redis use the shared Redis (`REDIS_URL`, else 127.0.0.1:6379) under a key prefix
 * of the row's own, deleted after the row; the scenario fails, saying how to start one, when no
 * Redis answers. Their Redis commands per change are counted in the server processes
 * (bench/roles/fanout-redis.ts) and, as a cross-check, read from the shared Redis's
 * `INFO commandstats`, which also counts whoever else uses that Redis.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { clientGraceMs, forkClient, type Child } from '../lib/children.js';
import { rotate } from '../lib/profile.js';
import { cell, num, ratio, verdict, type Table, type TargetCheck } from '../lib/report.js';
import { percentile, summarize } from '../lib/stats.js';
import { sleep, wallNow } from '../lib/time.js';
import { openFilesLimit } from '../lib/sync-server.js';
import { cpuShares, processWrites, readCpu } from '../lib/proc-cpu.js';
import { checkRedis, redisCommand } from '../../scripts/cluster/resp.js';
import { TIMED_COMMANDS, type RedisCommandCounts } from '../roles/fanout-redis.js';
import type { FanoutReceiverParams, FanoutServerKind } from '../roles/fanout-receiver.js';
import { PROGRESS_MS } from '../roles/fanout-receiver.js';
import { ELD_RESOLUTION_MS, FEED_TICK_MS, usesRedis, type FanoutEngine, type FanoutServerParams } from '../roles/fanout-server.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

export interface ServerRow {
  id: string;
  label: string;
  kind: FanoutServerKind;
  /** statesocket rows: where channels live. */
  engine: FanoutEngine;
  instances: number;
}

/** The rows, in the table's order; `ws` is the floor every ratio is taken against. */
export const SERVER_ROWS: readonly ServerRow[] = [
  { id: 'ws', label: 'raw `ws` broadcast, one process (the floor)', kind: 'ws', engine: 'memory', instances: 1 },
  { id: 'statesocket', label: 'statesocket, memory engine, one instance', kind: 'statesocket', engine: 'memory', instances: 1 },
  { id: 'redis', label: 'statesocket, Redis engine, one instance', kind: 'statesocket', engine: 'redis', instances: 1 },
  { id: 'redis-2', label: 'statesocket, Redis engine, two instances (figures for both together)', kind: 'statesocket', engine: 'redis', instances: 2 },
  { id: 'socketio', label: 'socket.io + Redis adapter, one instance', kind: 'socketio', engine: 'memory', instances: 1 },
];

export const THROUGHPUT_TARGET = 1;
export const CPU_TARGET = 1.2;
/** Two instances on Redis, deliveries/s per instance, against one memory-engine instance. */
export const PER_INSTANCE_TARGET = 0.8;
/** Redis round trips per change (issue 14: one). */
export const ROUND_TRIPS_TARGET = 1;
const CHANNEL = 'feed';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Time for a feed to settle before its window. */
const SETTLE_MS = 500;
/** Bounded wait for a child's answer: a loaded server answers IPC only between its writes. */
const REPLY_MS = 30_000;
/** Bounded wait for the last changes of a window to reach every receiver. */
const DRAIN_MS = 10_000;

interface Measured {
  elapsedMs: number;
  changes: number;
  subscribers: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  heapUsed: number;
  eldP50Ms: number;
  eldP99Ms: number;
  eldMaxMs: number;
}

export interface RowRun {
  connectSeconds: number;
  heapIdleBytes: number;
  heapConnectedBytes: number;
  steady: { changesPerSec: number; everyP50Ms: number; everyP99Ms: number; eachP50Ms: number; eachP99Ms: number; eldP99Ms: number; complete: number; changes: number };
  saturation: {
    deliveriesPerSec: number;
    cpuUsPerDelivery: number;
    cpuShare: number;
    heapUsedBytes: number;
    eldP99Ms: number;
    serverDeliveries: number;
    closed: number;
    /**
     * Secondary (the machine may be the limit): deliveries per second of server CPU, per instance,
     * the worst instance: (changes × its subscribers) ÷ its CPU seconds over the window.
     */
    deliveriesPerCpuSecond: number;
    /**
     * Write syscalls the row's servers made over the window (/proc/<pid>/io) ÷ the deliveries they
     * made: how many deliveries go out per write, independent of the machine's load (undefined: not readable).
     */
    writesPerDelivery: number | undefined;
    /** Over the window, from /proc: each process's CPU (% of one core; `server 1`, `receivers 1`, `redis-server`, …) and the machine's, all cores together (undefined: not readable here). */
    cpu: { processes: Record<string, number | undefined>; machine: number | undefined };
  };
  /** Rows on Redis: the commands sent over the whole saturation feed (settle, window, drain). */
  redis?: RedisPerChange;
}

export interface RedisPerChange {
  changes: number;
  /** Sent by the row's instances, by name (counted in their processes). */
  commands: RedisCommandCounts;
  /** The commands the instances sent per change, the timed ones (`TIMED_COMMANDS`) aside: the round trips per change. */
  roundTripsPerChange: number;
  /** The timed commands (heartbeat, presence refresh) the instances sent over the same time. */
  timedCommands: number;
  /** `evalsha` + `eval` calls on the shared Redis (`INFO commandstats`, every client of it) ÷ changes. */
  sharedScriptsPerChange: number;
}

/** `calls` of `evalsha` and `eval` in the shared Redis's `INFO commandstats` (every client's). */
async function sharedScriptCalls(): Promise<number> {
  const info = String(await redisCommand(REDIS_URL, ['INFO', 'commandstats']));
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(match[1]);
  return calls;
}

/** The shared Redis's process id (it runs on this machine), for its CPU time; undefined when INFO does not say. */
async function redisPid(): Promise<number | undefined> {
  const pid = Number(/^process_id:(\d+)/m.exec(String(await redisCommand(REDIS_URL, ['INFO', 'server'])))?.[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Every command the row's servers sent so far, summed by name. */
async function instanceCommands(servers: readonly Child[]): Promise<RedisCommandCounts> {
  for (const s of servers) s.send({ type: 'redis-commands' });
  const total: RedisCommandCounts = {};
  for (const reply of await Promise.all(servers.map((s) => s.next('redis-commands', REPLY_MS)))) {
    for (const [name, n] of Object.entries(reply.counts as RedisCommandCounts)) total[name] = (total[name] ?? 0) + n;
  }
  return total;
}

function perChange(before: RedisCommandCounts, after: RedisCommandCounts, sharedBefore: number, sharedAfter: number, changes: number): RedisPerChange {
  const commands: RedisCommandCounts = {};
  for (const [name, n] of Object.entries(after)) if (n - (before[name] ?? 0) > 0) commands[name] = n - (before[name] ?? 0);
  let perChange = 0;
  let timed = 0;
  for (const [name, n] of Object.entries(commands)) {
    if (TIMED_COMMANDS.has(name)) timed += n;
    else perChange += n;
  }
  return { changes, commands, roundTripsPerChange: perChange / changes, timedCommands: timed, sharedScriptsPerChange: (sharedAfter - sharedBefore) / changes };
}

/** Deletes every key under `prefix` on the shared Redis (a row's own keys). */
async function deleteKeys(prefix: string): Promise<void> {
  let cursor = '0';
  // SCAN ends when the cursor comes back to 0; the bound only stops a Redis that never says so.
  for (let round = 0; round < 10_000; round++) {
    const [next, keys] = (await redisCommand(REDIS_URL, ['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000'])) as [string, string[]];
    if (keys.length > 0) await redisCommand(REDIS_URL, ['UNLINK', ...keys]);
    cursor = next;
    if (cursor === '0') return;
  }
  throw new Error(`SCAN of ${prefix}* did not finish`);
}

/** `server 1 45, receivers 1 60, …, machine 190 of 200`: a row's CPU over the saturation window. */
function cpuNote(cpu: RowRun['saturation']['cpu']): string {
  const each = Object.entries(cpu.processes).map(([name, share]) => `${name} ${share === undefined ? '?' : num(share)}`);
  return `${each.join(', ')}, machine ${cpu.machine === undefined ? '?' : num(cpu.machine)} of ${availableParallelism() * 100}`;
}

/** The lowest seq every receiver has, from their latest `progress` reports. */
class Progress {
  private readonly latest: number[];
  constructor(private readonly receivers: readonly Child[]) {
    this.latest = receivers.map(() => -1);
  }

  lowest(): number {
    this.receivers.forEach((receiver, i) => {
      const reports = receiver.drain('progress');
      const last = reports.at(-1);
      if (last !== undefined) this.latest[i] = Number(last.seq);
    });
    return Math.min(...this.latest);
  }

  /** Until every receiver has `seq` (bounded). */
  async reach(seq: number, timeoutMs: number): Promise<boolean> {
    const until = wallNow() + timeoutMs;
    while (wallNow() < until) {
      if (this.lowest() >= seq) return true;
      await sleep(PROGRESS_MS);
    }
    return false;
  }
}

/** The saturation feed's lead over the slowest receiver, in changes: large enough that the progress loop never limits the rate. */
function aheadChanges(p: ScenarioContext['profile']['serverFanout']): number {
  return Math.max(1, Math.round(p.aheadDeliveries / p.connections));
}

async function runRow(ctx: ScenarioContext, row: ServerRow): Promise<RowRun> {
  const p = ctx.profile.serverFanout;
  const servers: Child[] = [];
  const receivers: Child[] = [];
  const timeoutMs = 30_000 + p.connections * 20;
  const redisPrefix = `bench-fanout-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    for (let i = 0; i < row.instances; i++) {
      const params: FanoutServerParams = { kind: row.kind, engine: row.engine, connections: p.connections, channel: CHANNEL, redisUrl: REDIS_URL, redisPrefix, feeds: i === 0 };
      servers.push(await forkClient(`${row.id} server ${i + 1}`, 'fanout-server', { ...params }, { exposeGc: true }));
    }
    const urls = (await Promise.all(servers.map((s) => s.next('listening', 30_000)))).map((m) => String(m.url));
    const feeder = servers[0]!;
    const heap = async () => (await Promise.all(servers.map(async (s) => (s.send({ type: 'heap' }), Number((await s.next('heap', 30_000)).heapUsed))))).reduce((a, b) => a + b, 0);
    const heapIdleBytes = await heap();

    const perProcess = Math.ceil(p.connections / p.receivers);
    for (let r = 0; r < p.receivers; r++) {
      const params: FanoutReceiverParams = {
        kind: row.kind,
        urls,
        connections: Math.min(perProcess, p.connections - r * perProcess),
        first: r * perProcess,
        channel: CHANNEL,
        batch: p.batch,
        timeoutMs,
      };
      receivers.push(await forkClient(`${row.id} receivers ${r + 1}`, 'fanout-receiver', { ...params }));
    }
    const ready = await Promise.all(receivers.map((r) => r.next('ready', timeoutMs + 10_000)));
    const connectSeconds = Math.max(...ready.map((m) => Number(m.seconds)));
    const heapConnectedBytes = await heap();
    const progress = new Progress(receivers);
    const measure = async () => {
      for (const s of servers) s.send({ type: 'measure', windowMs: p.windowMs });
      return (await Promise.all(servers.map((s) => s.next('measured', p.windowMs + 30_000)))) as unknown as Measured[];
    };
    const stopFeed = async () => {
      feeder.send({ type: 'feed-stop' });
      const stopped = await feeder.next('feed-stopped', REPLY_MS);
      if (!(await progress.reach(Number(stopped.seq), DRAIN_MS))) ctx.log(`server-fanout ${row.id}: receivers still behind seq ${String(stopped.seq)} after ${DRAIN_MS / 1000} s`);
      return Number(stopped.seq);
    };
    const record = async (on: boolean) => {
      for (const r of receivers) r.send({ type: 'record', on });
      await Promise.all(receivers.map((r) => r.next('recording', REPLY_MS)));
    };
    const counts = async () => {
      for (const r of receivers) r.send({ type: 'counts' });
      const all = await Promise.all(receivers.map((r) => r.next('counts', REPLY_MS)));
      return { at: wallNow(), deliveries: all.reduce((sum, m) => sum + Number(m.deliveries), 0), closed: all.reduce((sum, m) => sum + Number(m.closed), 0) };
    };

    // ── steady rate: latency ──
    const changesPerSec = p.offeredDeliveriesPerSec / p.connections;
    feeder.send({ type: 'feed', changesPerSec });
    await feeder.next('feeding', REPLY_MS);
    await sleep(SETTLE_MS);
    await record(true);
    const steadyMeasured = await measure();
    await stopFeed();
    await record(false);
    for (const r of receivers) r.send({ type: 'latency' });
    const latencies = await Promise.all(receivers.map((r) => r.next('latency', 30_000)));
    const worst = new Map<number, number>();
    const count = new Map<number, number>();
    const each: number[] = [];
    for (const l of latencies) {
      for (const [seq, ms] of l.worst as Array<[number, number]>) worst.set(seq, Math.max(worst.get(seq) ?? 0, ms));
      for (const [seq, n] of l.count as Array<[number, number]>) count.set(seq, (count.get(seq) ?? 0) + n);
      for (const ms of l.each as number[]) each.push(ms);
    }
    const every = [...worst].filter(([seq]) => count.get(seq) === p.connections).map(([, ms]) => ms);

    // ── saturation: deliveries per second, CPU per delivery ──
    const relay = setInterval(() => feeder.send({ type: 'credit', seq: progress.lowest() }), PROGRESS_MS);
    const onRedis = usesRedis(row);
    const pids: Record<string, number> = {};
    servers.forEach((s, i) => (pids[`server ${i + 1}`] = s.process.pid ?? 0));
    receivers.forEach((r, i) => (pids[`receivers ${i + 1}`] = r.process.pid ?? 0));
    const redisProcess = onRedis ? await redisPid() : undefined;
    if (redisProcess !== undefined) pids['redis-server'] = redisProcess;
    let cpu: ReturnType<typeof cpuShares>;
    let writes: number | undefined;
    let saturated: Measured[];
    let before: Awaited<ReturnType<typeof counts>>;
    let after: Awaited<ReturnType<typeof counts>>;
    let redis: RedisPerChange | undefined;
    try {
      const commandsBefore = onRedis ? await instanceCommands(servers) : {};
      const sharedBefore = onRedis ? await sharedScriptCalls() : 0;
      feeder.send({ type: 'saturate', changesPerSec: p.saturationDeliveriesPerSec / p.connections, aheadChanges: aheadChanges(p) });
      const firstSeq = Number((await feeder.next('feeding', REPLY_MS)).seq);
      await sleep(SETTLE_MS);
      before = await counts();
      const cpuBefore = readCpu(pids, wallNow());
      const writesBefore = servers.map((s) => processWrites(s.process.pid ?? 0));
      saturated = await measure();
      cpu = cpuShares(cpuBefore, readCpu(pids, wallNow()));
      const writesAfter = servers.map((s) => processWrites(s.process.pid ?? 0));
      writes = writesBefore.some((w) => w === undefined) || writesAfter.some((w) => w === undefined) ? undefined : writesAfter.reduce((sum: number, w, i) => sum + (w as number) - (writesBefore[i] as number), 0);
      after = await counts();
      const lastSeq = await stopFeed();
      if (onRedis) redis = perChange(commandsBefore, await instanceCommands(servers), sharedBefore, await sharedScriptCalls(), lastSeq - firstSeq);
    } finally {
      clearInterval(relay);
    }
    const sum = (list: Measured[], f: (m: Measured) => number) => list.reduce((total, m) => total + f(m), 0);
    // Every instance delivers the feeder's changes to its own subscribers.
    const serverDeliveries = saturated[0]!.changes * sum(saturated, (m) => m.subscribers);
    const run: RowRun = {
      connectSeconds,
      heapIdleBytes,
      heapConnectedBytes,
      steady: {
        changesPerSec,
        everyP50Ms: percentile(every, 50),
        everyP99Ms: percentile(every, 99),
        eachP50Ms: percentile(each, 50),
        eachP99Ms: percentile(each, 99),
        eldP99Ms: Math.max(...steadyMeasured.map((m) => m.eldP99Ms)),
        complete: every.length,
        changes: worst.size,
      },
      saturation: {
        deliveriesPerSec: ((after.deliveries - before.deliveries) * 1000) / (after.at - before.at),
        cpuUsPerDelivery: (sum(saturated, (m) => m.cpuUserMs + m.cpuSystemMs) * 1000) / serverDeliveries,
        cpuShare: Math.max(...saturated.map((m) => (m.cpuUserMs + m.cpuSystemMs) / m.elapsedMs)),
        heapUsedBytes: sum(saturated, (m) => m.heapUsed),
        eldP99Ms: Math.max(...saturated.map((m) => m.eldP99Ms)),
        serverDeliveries,
        closed: after.closed,
        writesPerDelivery: writes === undefined ? undefined : writes / serverDeliveries,
        deliveriesPerCpuSecond: Math.min(...saturated.map((m) => (saturated[0]!.changes * m.subscribers * 1000) / (m.cpuUserMs + m.cpuSystemMs))),
        cpu,
      },
      ...(redis === undefined ? {} : { redis }),
    };
    const redisNote = redis === undefined ? '' : `, Redis round trips per change: ${num(redis.roundTripsPerChange, 3)} (${JSON.stringify(redis.commands)} over ${redis.changes} changes), shared Redis evalsha+eval ${num(redis.sharedScriptsPerChange, 3)}`;
    ctx.log(
      `server-fanout ${row.id}: ${num(run.saturation.deliveriesPerSec)} deliveries/s, ${num(run.saturation.cpuUsPerDelivery, 2)} µs CPU/delivery, every subscriber p50 ${num(run.steady.everyP50Ms, 1)} ms p99 ${num(run.steady.everyP99Ms, 1)} ms${redisNote}; write syscalls per delivery ${run.saturation.writesPerDelivery === undefined ? '?' : num(run.saturation.writesPerDelivery, 3)}; CPU while saturated (% of one core) ${cpuNote(cpu)}`,
    );
    return run;
  } finally {
    for (const r of receivers) r.send({ type: 'finish' });
    await Promise.all(receivers.map((r) => r.kill(clientGraceMs())));
    for (const s of servers) s.send({ type: 'finish' });
    await Promise.all(servers.map((s) => s.kill(5_000)));
    if (usesRedis(row)) await deleteKeys(redisPrefix);
  }
}

export async function serverFanoutScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const p = ctx.profile.serverFanout;
  const limit = openFilesLimit();
  if (limit !== undefined && limit < p.connections + 64) {
    throw new Error(`ulimit -n is ${limit}: a server process needs ${p.connections + 64} descriptors for ${p.connections} connections; raise it (ulimit -n ${p.connections * 2}) and run again`);
  }
  if (SERVER_ROWS.some(usesRedis)) await checkRedis(REDIS_URL);
  const runs: Record<string, RowRun[]> = Object.fromEntries(SERVER_ROWS.map((row) => [row.id, [] as RowRun[]]));
  for (let rep = 0; rep < p.repetitions; rep++) {
    for (const row of rotate(SERVER_ROWS, rep)) runs[row.id]!.push(await runRow(ctx, row));
  }
  const pick = (id: string, f: (r: RowRun) => number) => summarize(runs[id]!.map(f));
  const floorRate = pick('ws', (r) => r.saturation.deliveriesPerSec).median;
  const floorCpu = pick('ws', (r) => r.saturation.cpuUsPerDelivery).median;
  const memoryRate = pick('statesocket', (r) => r.saturation.deliveriesPerSec).median;
  const memoryPerCpu = pick('statesocket', (r) => r.saturation.deliveriesPerCpuSecond).median;
  /** A row's CPU shares over its repetitions, summed by kind of process: servers, receivers, redis-server, and the whole machine. */
  const cpuCell = (id: string) => {
    const share = (r: RowRun, prefix: string) => Object.entries(r.saturation.cpu.processes).reduce((sum, [name, v]) => (name.startsWith(prefix) ? sum + (v ?? Number.NaN) : sum), 0);
    const part = (prefix: string) => cell(pick(id, (r) => share(r, prefix)));
    const redis = runs[id]!.every((r) => r.saturation.cpu.processes['redis-server'] !== undefined) ? part('redis-server') : '—';
    return `${part('server')} / ${part('receivers')} / ${redis} / ${cell(pick(id, (r) => r.saturation.cpu.machine ?? Number.NaN))}`;
  };
  const targets: TargetCheck[] = [];
  const rows = SERVER_ROWS.map((row) => {
    const rate = pick(row.id, (r) => r.saturation.deliveriesPerSec);
    const cpu = pick(row.id, (r) => r.saturation.cpuUsPerDelivery);
    const perInstance = rate.median / row.instances;
    const redisRuns = runs[row.id]!.every((r) => r.redis !== undefined);
    const roundTrips = redisRuns ? pick(row.id, (r) => r.redis!.roundTripsPerChange) : undefined;
    let met = '';
    if (row.kind === 'statesocket' && row.engine === 'redis' && roundTrips !== undefined) {
      const tripsMet = roundTrips.max <= ROUND_TRIPS_TARGET;
      targets.push({ name: `Redis round trips per change, ${row.label}`, required: `${ROUND_TRIPS_TARGET}`, measured: num(roundTrips.max, 3), met: tripsMet });
      met = verdict(tripsMet);
      if (row.instances > 1) {
        const instanceMet = perInstance / memoryRate >= PER_INSTANCE_TARGET;
        targets.push({
          name: `deliveries/s per instance, ${row.instances} instances on Redis, ${num(p.connections)} connections`,
          required: `≥ ${PER_INSTANCE_TARGET}× one memory-engine instance`,
          measured: ratio(perInstance, memoryRate),
          met: instanceMet,
        });
        met = `${verdict(instanceMet)} / ${met}`;
      }
    }
    if (row.kind === 'statesocket' && row.engine === 'memory' && row.instances === 1) {
      const rateMet = rate.median / floorRate >= THROUGHPUT_TARGET;
      const cpuMet = cpu.median / floorCpu <= CPU_TARGET;
      targets.push({ name: `deliveries/s at saturation, ${num(p.connections)} connections`, required: `≥ ${THROUGHPUT_TARGET}× raw ws`, measured: ratio(rate.median, floorRate), met: rateMet });
      targets.push({ name: `server CPU per delivery, ${num(p.connections)} connections`, required: `≤ ${CPU_TARGET}× raw ws`, measured: ratio(cpu.median, floorCpu), met: cpuMet });
      met = `${verdict(rateMet)} / ${verdict(cpuMet)}`;
    }
    const mib = (f: (r: RowRun) => number) => cell(pick(row.id, (r) => f(r) / 1_048_576), 1);
    return [
      row.label,
      cell(rate),
      ratio(rate.median, floorRate),
      cell(cpu, 2),
      ratio(cpu.median, floorCpu),
      `${cell(pick(row.id, (r) => r.saturation.cpuShare * 100))} %`,
      `${cell(pick(row.id, (r) => r.steady.everyP50Ms), 1)} / ${cell(pick(row.id, (r) => r.steady.everyP99Ms), 1)}`,
      `${cell(pick(row.id, (r) => r.steady.eachP50Ms), 1)} / ${cell(pick(row.id, (r) => r.steady.eachP99Ms), 1)}`,
      `${cell(pick(row.id, (r) => r.steady.eldP99Ms), 1)} / ${cell(pick(row.id, (r) => r.saturation.eldP99Ms), 1)}`,
      `${mib((r) => r.heapIdleBytes)} / ${mib((r) => r.heapConnectedBytes)} / ${mib((r) => r.saturation.heapUsedBytes)}`,
      cell(pick(row.id, (r) => r.connectSeconds), 2),
      `${num(perInstance)} (${ratio(perInstance, memoryRate)})`,
      roundTrips === undefined ? '—' : `${cell(roundTrips, 3)} / ${cell(pick(row.id, (r) => r.redis!.sharedScriptsPerChange), 3)}`,
      met,
      runs[row.id]!.every((r) => r.saturation.writesPerDelivery !== undefined) ? cell(pick(row.id, (r) => r.saturation.writesPerDelivery as number), 3) : '—',
      cpuCell(row.id),
      row.kind === 'statesocket' ? `${cell(pick(row.id, (r) => r.saturation.deliveriesPerCpuSecond))} (${ratio(pick(row.id, (r) => r.saturation.deliveriesPerCpuSecond).median, memoryPerCpu)})` : '—',
    ];
  });
  const table: Table = {
    title: `${num(p.connections)} connections, one feed`,
    columns: [
      'server',
      'deliveries/s at saturation',
      'vs raw ws',
      'server CPU µs/delivery',
      'vs raw ws',
      'server CPU while saturated (one core = 100 %)',
      `change → every subscriber p50 / p99 ms (${num(p.offeredDeliveriesPerSec)} deliveries/s offered)`,
      'change → each delivery p50 / p99 ms',
      'server event-loop delay p99 ms (steady / saturated)',
      'server heap MiB (after GC: idle / connected; in use while saturated)',
      'connect all (s)',
      'deliveries/s per instance (vs statesocket, memory engine, one instance)',
      'Redis round trips per change: commands the instances sent (timed ones aside) / evalsha+eval on the shared Redis (every client)',
      `target: memory ≥ ${THROUGHPUT_TARGET}× rate / ≤ ${CPU_TARGET}× CPU vs raw ws; Redis ≥ ${PER_INSTANCE_TARGET}× per instance / ${ROUND_TRIPS_TARGET} round trip per change`,
      'server write syscalls per delivery (saturated)',
      `CPU while saturated, % of one core: servers / receivers / redis-server / the whole machine (all ${availableParallelism()} cores: ${availableParallelism() * 100} = every core busy)`,
      'secondary figure, not the target: deliveries per second of server CPU, per instance (the worst instance; vs statesocket, memory engine, one instance)',
    ],
    rows,
    notes: [
      `Each server in its own process on 127.0.0.1 (\`--expose-gc\`); ${p.receivers} receiver process(es) hold the ${num(p.connections)} connections (${p.batch} opening at a time) on the same ${availableParallelism()}-core machine, so receivers and server share the CPU. statesocket's receivers speak protocol version 2 by hand over raw \`ws\` sockets (hello, subscribe to one channel); raw ws's are raw \`ws\` sockets; socket.io's are \`socket.io-client\` sockets (websocket transport, one engine each).`,
      `Every change sets one row (~100 bytes of JSON, plus \`t\`: when it was made). statesocket: \`server.change()\` on one channel (one patch frame per change). Raw ws: the same patch text, \`JSON.stringify\` once per change, \`ws.send(text)\` to every socket. socket.io: \`io.emit('patch', frame)\` with the Redis adapter on the shared Redis (${REDIS_URL}, a key prefix of the run's own).`,
      `Steady: ${num(p.offeredDeliveriesPerSec / p.connections, 1)} changes/s (${FEED_TICK_MS} ms ticks) for ${num(p.windowMs / 1000, 1)} s after ${SETTLE_MS} ms to settle; "every subscriber" is, per change, the latest arrival over all connections (changes that reached them all); "each delivery" is every arrival. Clocks are the one system clock.`,
      `Redis rows: the shared Redis (${REDIS_URL}), a key prefix of the row's own (its keys deleted after the row), \`startSyncServer({ redis: { url, prefix } })\`; with two instances, connection i goes to instance i mod 2 and the feed runs on the first, so half the subscribers get each change through Redis (the append script's notice, pub/sub), and "every subscriber" spans both. Figures of a row are for all its instances together (CPU and heap summed, event-loop delay the worse); per instance = the row's deliveries/s ÷ instances. Redis round trips per change, over the whole saturation feed (settle, window, drain; every change applied): the commands the row's server processes sent, counted in each at \`ioredis\`'s \`Redis.prototype.sendCommand\` (every command of every connection, pipelined ones included; a script call named by its script; pub/sub messages received are not commands), less the ones sent on a clock rather than per change (the heartbeat's \`ping\`, one a second per connection, and the presence \`refresh\` script, per followed channel every third of the presence expiry; counted in results.json), ÷ the changes made; beside it, as a cross-check, the \`evalsha\`/\`eval\` calls in the shared Redis's \`INFO commandstats\` ÷ the same changes, which also counts the refreshes and every other client of that Redis (an upper bound). Target met: at most ${ROUND_TRIPS_TARGET} in every repetition.`,
      `Write syscalls per delivery: the \`syscw\` count of the row's server processes (/proc/<pid>/io: every write to a socket, IPC and Redis included) over the saturation window ÷ the deliveries they made; how many frames share a write, which the machine's load changes less than it changes CPU time.`,
      `CPU while saturated (the two columns before the last): each process's user + system time over the saturation window from \`/proc/<pid>/stat\` (the servers, the receiver processes, and for the rows on Redis the shared redis-server, which also serves whoever else uses it), summed by kind, and the whole machine's busy time from \`/proc/stat\` (every process on it, other users' included). When the machine column is near ${availableParallelism() * 100}, the row's deliveries/s are bound by the machine's cores, not by the server: the processes of the row share them. The last column is a secondary figure for that case, labelled as such and never judged as the target: how many deliveries an instance makes per second of its own CPU, (changes × its subscribers) ÷ its CPU seconds (\`process.cpuUsage()\`) over the window, the worst of the row's instances, against the same for the memory-engine instance; the per-instance target above stays deliveries/s.`,
      `Saturation: ${num(p.saturationDeliveriesPerSec)} deliveries/s offered (${num(p.saturationDeliveriesPerSec / p.connections)} changes/s in ${FEED_TICK_MS} ms ticks: a late tick makes every change due), never more than ${num(aheadChanges(p))} changes (${num(p.aheadDeliveries)} deliveries) past the lowest seq every receiver reported (every ${PROGRESS_MS} ms, relayed by the parent); deliveries/s counted by the receivers over ${num(p.windowMs / 1000, 1)} s. CPU per delivery: the server process's \`process.cpuUsage()\` (user + system) over the window ÷ (changes × subscribers) it sent. Event-loop delay: \`monitorEventLoopDelay\` at ${ELD_RESOLUTION_MS} ms resolution (an idle loop reads about ${ELD_RESOLUTION_MS} ms).`,
    ],
  };
  return { params: { ...p, rows: SERVER_ROWS }, tables: [table], targets, data: runs };
}
