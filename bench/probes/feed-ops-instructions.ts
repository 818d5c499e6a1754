// Probe for issue 14's scenario 11 (b) in instructions, which do not depend on the machine's load: this checkout's
// reference server and the baseline's (commit 7a19d3a, bench/lib/baseline.ts), each in its own process under
// `valgrind --tool=callgrind`, given the same fixed work: 500 connections × 10 channels over 5,000 channels (scenario
// 9's quick sizes) subscribed, then FEED server changes round robin (one row each, as the scenario's feed) and OPS
// ops from the connections (as the scenario's ops), paced per 10 ms tick, every op's ack awaited. A warm-up of the
// same load first (WARM changes, half as many ops: the optimizing compiler's work is most of a short window
// otherwise). Callgrind's counters are zeroed (`callgrind_control -z`) after it and dumped (`-d`) after the last
// ack: the window holds the feed + ops and nothing else, every thread of the process (the collector's too).
// Prints instructions per feed change + its share of ops (total ÷ FEED) per run. Reported, never judged.
//   node --import tsx bench/probes/feed-ops-instructions.ts
//   env: ROUNDS (runs per server, default 2), CONNECTIONS (default 500), PER_CONNECTION (default 10), CHANNELS (default
//   5000), FEED (default 5000), OPS (default 2500), WARM (default 5000), KINDS (default
//   current,baseline; ref:<commit> as in feed-ops.ts), OUT (callgrind's files, default a temporary directory:
//   `callgrind_annotate OUT/<kind>-<round>.out.*` shows where), PROF=1 (no valgrind: each server under node --cpu-prof
//   instead, its profile in OUT/<kind>-<round>: callgrind cannot name JIT-compiled functions, a profile can)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASELINE_COMMIT, buildBaseline, buildCurrentServer } from '../lib/baseline.js';
import { clientFlags, clientGraceMs, forkClient, type Child } from '../lib/children.js';
import { PROFILES } from '../lib/profile.js';
import { SyncServerChild } from '../lib/sync-server.js';

/** Scenario 9's quick sizes unless CONNECTIONS, PER_CONNECTION or CHANNELS say otherwise (a smaller fixed load when a loaded machine cannot accept 500 connections under valgrind in time; both servers get the same). */
const quick = PROFILES.quick.engineBaseline;
const p = {
  connections: Number(process.env.CONNECTIONS ?? quick.connections),
  perConnection: Number(process.env.PER_CONNECTION ?? quick.perConnection),
  channels: Number(process.env.CHANNELS ?? quick.channels),
  batch: quick.batch,
};
const rounds = Number(process.env.ROUNDS ?? 2);
const feed = Number(process.env.FEED ?? 5_000);
const ops = Number(process.env.OPS ?? 2_500);
const warm = Number(process.env.WARM ?? 5_000);
const kinds = (process.env.KINDS ?? 'current,baseline').split(',');
const out = process.env.OUT ?? mkdtempSync(join(tmpdir(), 'feed-ops-instructions-'));
const profiled = process.env.PROF === '1';
/** Per 10 ms tick: about the scenario's rates (1,000 changes/s and 500 ops/s) while the server keeps up. */
const FEED_PER_TICK = 10;
const OPS_PER_TICK = 5;
/** Generous: everything runs 20 to 100 times slower under valgrind. */
const TIMEOUT_MS = 600_000;

const modules: Record<string, string> = {};
for (const kind of kinds) {
  if (kind === 'current') modules[kind] = await buildCurrentServer();
  else if (kind === 'baseline' || kind.startsWith('ref:')) {
    const built = await buildBaseline(kind === 'baseline' ? BASELINE_COMMIT : kind.slice('ref:'.length));
    if (!built.available) throw new Error(`no ${kind}: ${built.reason}`);
    modules[kind] = built.modulePath;
  } else throw new Error(`KINDS: ${kind} is neither current, baseline nor ref:<commit>`);
}

/** The instructions (Ir) of the last dump callgrind wrote to `file` (`-d` writes `file.1`, `file.2`, …). */
function dumpedInstructions(file: string): number {
  const parts = readdirSync(out)
    .filter((name) => name.startsWith(`${file}.`))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const last = parts.at(-1);
  if (last === undefined) throw new Error(`callgrind wrote no dump for ${file} in ${out}`);
  const summary = /^summary:\s+(\d+)/m.exec(readFileSync(join(out, last), 'utf8'));
  if (summary === null) throw new Error(`no summary line in ${join(out, last)}`);
  return Number(summary[1]);
}

const results: Record<string, string[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
    const file = `${kind.replace(/[^a-z0-9]/gi, '_')}-${round + 1}.out`;
    const wrapper = ['valgrind', '--tool=callgrind', `--callgrind-out-file=${join(out, file)}`, '--dump-instr=no', '--collect-atstart=yes'];
    const flags = profiled ? ['--cpu-prof', `--cpu-prof-dir=${join(out, file.replace(/\.out$/, ''))}`] : [];
    clientFlags.push(...flags);
    const server = await SyncServerChild.start(`${kind} server`, { maxConnectionsPerAddress: p.connections + 100 }, modules[kind], profiled ? undefined : wrapper);
    clientFlags.splice(clientFlags.length - flags.length, flags.length);
    const loads: Child[] = [];
    try {
      const population = await forkClient('feed load', 'channel-load', { url: server.url, batch: p.batch, timeoutMs: TIMEOUT_MS, first: 0, connections: p.connections, perConnection: p.perConnection, channelCount: p.channels, prefix: 'load-' });
      loads.push(population);
      await population.next('connected', TIMEOUT_MS);
      population.send({ type: 'subscribe' });
      await population.next('subscribed', TIMEOUT_MS);
      /** `changes` feed changes and half as many ops; resolves when every op is acked. */
      const load = async (changes: number, opCount: number) => {
        population.send({ type: 'ops-count', total: opCount, perTick: OPS_PER_TICK });
        const [, counted] = await Promise.all([server.feedCount('load-', p.channels, changes, FEED_PER_TICK, TIMEOUT_MS), population.next('ops-counted', TIMEOUT_MS)]);
        if (Number(counted.unanswered) !== 0) throw new Error(`${kind}: ${String(counted.unanswered)} ops unanswered`);
      };
      if (warm > 0) await load(warm, Math.round(warm / 2));
      if (profiled) {
        await load(feed, ops);
        console.log(`round ${round + 1} ${kind}: profiled`);
        continue;
      }
      const pid = server.child.process.pid as number;
      execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });
      await load(feed, ops);
      execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
      const instructions = dumpedInstructions(file);
      const line = `${(instructions / 1e6).toFixed(0)} M instructions, ${(instructions / feed / 1e3).toFixed(1)} k per feed change (with ${(ops / feed).toFixed(2)} op each)`;
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
console.log(`callgrind files: ${out}`);
