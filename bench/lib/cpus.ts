/**
 * Pinning a scenario's server and client to different cores with `taskset` (util-linux), so a
 * blast server and the client it feeds never take turns on one core, and the scheduler does not
 * move either between cores in the middle of a window. Scenario 1 measured raw `ws`'s own runs
 * 268k to 434k msg/s unpinned (bench/RESULTS.md). Linux only; anywhere `taskset` is missing or the
 * bench may use fewer than 2 cores, or the machine is busy, `corePlan()` says why and the processes run unpinned.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** The cores this process may run on (`Cpus_allowed_list` of /proc/self/status, e.g. `0-3,6`); empty when unknown. */
export function allowedCpus(): number[] {
  let list: string;
  try {
    list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  } catch {
    return [];
  }
  const cpus: number[] = [];
  for (const range of list.split(',')) {
    const [from, to = from] = range.split('-').map(Number);
    if (from === undefined || to === undefined || !Number.isInteger(from) || !Number.isInteger(to)) return [];
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** Where a scenario's server and its clients run: a `wrapper` for each (`taskset -c N`), or none and the reason. */
export type CorePlan = { pinned: true; server: readonly string[]; client: readonly string[]; serverCpu: number; clientCpu: number } | { pinned: false; reason: string };

let plan: CorePlan | undefined;

/**
 * The server on the first core this process may use, the clients on the second (the bench's own
 * process, idle while a client is timed, stays unpinned). Decided once per process. Unpinned, on a
 * quiet 2-core machine (2026-12-03), every library's client process landed in one of two modes,
 * about 2.0 or about 3.2 µs of CPU per message, by the luck of the scheduler (the worst-of-5 ratio
 * then measured which mode each process drew: 0.67× for a median of 1.11×); pinned, raw ws's five
 * runs spread 461k–505k msg/s and every client sat in the fast mode. Where other jobs load the
 * machine, a pinned client cannot move off a core one of them holds (raw ws's runs spread more
 * pinned than not, with a load average of 6–12 on 2 cores): `BENCH_PIN=quiet` pins only while the
 * 1-minute load average is below the cores allowed, `BENCH_PIN=0` never pins.
 */
export function corePlan(): CorePlan {
  if (plan !== undefined) return plan;
  const cpus = allowedCpus();
  const load = loadavg()[0] ?? 0;
  const taskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' });
  if (taskset.error !== undefined || taskset.status !== 0) plan = { pinned: false, reason: 'taskset (util-linux) is not available' };
  else if (cpus.length < 2) plan = { pinned: false, reason: cpus.length === 0 ? 'the cores allowed are unknown (no /proc)' : 'only one core is allowed' };
  else if (process.env.BENCH_PIN === '0') plan = { pinned: false, reason: 'BENCH_PIN=0' };
  else if (load >= cpus.length && process.env.BENCH_PIN === 'quiet') plan = { pinned: false, reason: `the machine is busy, load average ${load.toFixed(1)} on ${cpus.length} cores: a pinned client could not move off a core another process holds` };
  else {
    const [serverCpu, clientCpu] = cpus as [number, number];
    plan = { pinned: true, serverCpu, clientCpu, server: ['taskset', '-c', String(serverCpu)], client: ['taskset', '-c', String(clientCpu)] };
  }
  return plan;
}
