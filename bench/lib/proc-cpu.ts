/**
 * CPU time of processes and of the whole machine, read from Linux's /proc (the bench's machines):
 * for a row whose processes share the cores (servers, receivers, redis-server), what each used
 * over a window, and whether together they used the machine up. Elsewhere (no /proc) every
 * reading is undefined and the reports say so.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (`getconf CLK_TCK`; 100 on Linux's usual builds). */
const TICKS_PER_SECOND = 100;

/** User + system CPU milliseconds `pid` has used so far; undefined when it cannot be read (gone, no /proc). */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: the fields after it follow its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 (utime) and 15 (stime), counted from 1 over the whole line: 12th and 13th after the name.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Write syscalls `pid` has made so far (`syscw` of /proc/<pid>/io: every write, writev, send…, sockets included); undefined when it cannot be read. */
export function processWrites(pid: number): number | undefined {
  try {
    const count = Number(/^syscw:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
    return Number.isFinite(count) ? count : undefined;
  } catch {
    return undefined;
  }
}

/** The whole machine's busy and total CPU milliseconds so far, all cores together (/proc/stat); undefined without /proc. */
export function machineCpuMs(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return { busy: ((total - idle) * 1000) / TICKS_PER_SECOND, total: (total * 1000) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

/** A reading of named processes and the machine, to be compared with a later one. */
export interface CpuReading {
  at: number;
  processes: Record<string, number | undefined>;
  machine: { busy: number; total: number } | undefined;
}

export function readCpu(pids: Record<string, number>, at: number): CpuReading {
  return { at, processes: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuMs(pid)])), machine: machineCpuMs() };
}

/**
 * Each process's CPU between two readings as a share of one core (100 = one core busy the whole
 * time), and the machine's busy share of all its cores together (its core count × 100 at most).
 */
export function cpuShares(before: CpuReading, after: CpuReading): { processes: Record<string, number | undefined>; machine: number | undefined } {
  const elapsed = after.at - before.at;
  const processes: Record<string, number | undefined> = {};
  for (const [name, start] of Object.entries(before.processes)) {
    const end = after.processes[name];
    processes[name] = start === undefined || end === undefined || elapsed <= 0 ? undefined : ((end - start) * 100) / elapsed;
  }
  const m0 = before.machine;
  const m1 = after.machine;
  // Over all cores: busy ticks ÷ elapsed wall time, so 2 cores fully busy read 200.
  const machine = m0 === undefined || m1 === undefined || elapsed <= 0 ? undefined : ((m1.busy - m0.busy) * 100) / elapsed;
  return { processes, machine };
}
