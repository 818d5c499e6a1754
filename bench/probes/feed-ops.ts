// Probe for issue 14's scenario 11 (b) alone: this checkout's reference server and the baseline's (commit 7a19d3a,
// bench/lib/baseline.ts) under scenario 9's feed + ops (quick profile sizes), taking turns after scenario (a)'s flood
// as in the scenario; per turn the server's CPU share and event-loop delay over the window, with its user and system
// time, write and read system calls and context switches from /proc (the system calls do not depend on the load).
// Optionally each server under node --cpu-prof. Reported, never judged.
//   node --import tsx bench/probes/feed-ops.ts
//   env: ROUNDS (turns per server, default 3), WINDOW_MS (default 6000), FLOOD_MS (the flood before, default 2000;
//   0: none), KINDS (default current,baseline; ref:<commit> for another commit's server, e.g. the one before a
//   change), PROF (a directory: each server writes its CPU profile to PROF/<kind>), HEAP=1 (the heap after the subscribes)
import { BASELINE_COMMIT, buildBaseline, buildCurrentServer } from '../lib/baseline.js';
import { clientFlags, clientGraceMs, forkClient, type Child } from '../lib/children.js';
import { PROFILES } from '../lib/profile.js';
import { SyncServerChild } from '../lib/sync-server.js';
import { sleep } from '../lib/time.js';
import { readFileSync } from 'node:fs';

/** The server process's counters from /proc: user and system ticks, write and read syscalls, context switches. */
function counters(pid: number): Record<string, number> {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1]);
  return {
    userMs: Number(fields[11]) * 10,
    sysMs: Number(fields[12]) * 10,
    writes: field(io, 'syscw'),
    reads: field(io, 'syscr'),
    switches: field(status, 'voluntary_ctxt_switches') + field(status, 'nonvoluntary_ctxt_switches'),
  };
}

const p = PROFILES.quick.engineBaseline;
const rounds = Number(process.env.ROUNDS ?? 3);
const windowMs = Number(process.env.WINDOW_MS ?? 6_000);
const floodMs = Number(process.env.FLOOD_MS ?? 2_000);
const kinds = (process.env.KINDS ?? 'current,baseline').split(',');
const prof = process.env.PROF;

const modules: Record<string, string> = {};
for (const kind of kinds) {
  if (kind === 'current') modules[kind] = await buildCurrentServer();
  else if (kind === 'baseline') {
    const baseline = await buildBaseline();
    if (!baseline.available) throw new Error(`no baseline ${BASELINE_COMMIT}: ${baseline.reason}`);
    modules[kind] = baseline.modulePath;
  } else if (kind.startsWith('ref:')) {
    // Another commit's server, built as the baseline's is (e.g. the one before a change).
    const built = await buildBaseline(kind.slice('ref:'.length));
    if (!built.available) throw new Error(`no ${kind}: ${built.reason}`);
    modules[kind] = built.modulePath;
  } else throw new Error(`KINDS: ${kind} is neither current, baseline nor ref:<commit>`);
}

const results: Record<string, string[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
    const flags = prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}/${kind}`];
    clientFlags.push(...flags);
    const server = await SyncServerChild.start(`${kind} server`, { maxConnectionsPerAddress: p.connections + p.floodConnections + 100 }, modules[kind]);
    clientFlags.splice(clientFlags.length - flags.length, flags.length);
    const loads: Child[] = [];
    try {
      const common = { url: server.url, batch: p.batch, timeoutMs: 60_000 };
      const population = await forkClient('feed load', 'channel-load', { ...common, first: 0, connections: p.connections, perConnection: p.perConnection, channelCount: p.channels, prefix: 'load-' });
      loads.push(population);
      const hot = await forkClient('hot load', 'channel-load', { ...common, first: p.connections, connections: p.floodConnections, perConnection: 1, channelCount: p.floodChannels, prefix: 'hot-' });
      loads.push(hot);
      await Promise.all(loads.map((child) => child.next('connected', 70_000)));
      for (const child of loads) child.send({ type: 'subscribe' });
      await Promise.all(loads.map((child) => child.next('subscribed', 70_000)));
      // The heap after a collection once every channel is followed (HEAP=1; a forced GC, outside the window).
      const heap = process.env.HEAP === '1' ? `, heap after the subscribes ${((await server.heap()).heapUsed / 1e6).toFixed(1)} MB` : '';
      if (floodMs > 0) {
        hot.send({ type: 'flood', window: p.floodWindow });
        await hot.next('flood-started', 10_000);
        await sleep(floodMs);
        hot.send({ type: 'flood-stop' });
        await hot.next('flood-stopped', 30_000);
      }
      await server.feed('load-', p.channels, p.feedRatePerSec);
      population.send({ type: 'ops', ratePerSec: p.opsRatePerSec });
      await population.next('ops-started', 10_000);
      await sleep(300);
      const pid = server.child.process.pid as number;
      const before = counters(pid);
      const eld = await server.loopDelay(windowMs);
      const after = counters(pid);
      const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] as number)]));
      population.send({ type: 'ops-stop' });
      await population.next('ops-stopped', 30_000);
      await server.stopFeed();
      const line = `CPU ${(eld.cpuShare * 100).toFixed(2)} % p99 ${eld.p99Ms.toFixed(2)} ms max ${eld.maxMs.toFixed(1)} ms; user ${delta.userMs} ms sys ${delta.sysMs} ms, ${delta.writes} write and ${delta.reads} read syscalls, ${delta.switches} context switches${heap}`;
      (results[kind] ??= []).push(line);
      console.log(`round ${round + 1} ${kind}: ${line}`);
    } finally {
      for (const child of loads) child.send({ type: 'finish' });
      await Promise.all(loads.map((child) => child.kill(clientGraceMs())));
      await server.stop();
    }
  }
}
for (const [kind, lines] of Object.entries(results)) console.log(`${kind}:\n  ${lines.join('\n  ')}`);
