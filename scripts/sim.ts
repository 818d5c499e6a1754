/**
 * `npm run sim -- --seeds 5000 [--from N] [--seed N] [--steps M] [--protocol 1|2] [--instances N] [--trace]`
 *
 * Runs seeded fault simulations (src/testing/sim.ts). Reports throughput in
 * simulated outages per second of wall time (in all, and per protocol version:
 * odd seeds run version 1, even seeds version 2, unless `--protocol` says),
 * and every failing seed with a one-line replay command. `--seed N --trace`
 * prints one run step by step. `--instances N` (2 to 8) runs N server instances sharing one
 * engine (version 2 runs, with instance crashes and engine outages). Exits 1 when a seed fails,
 * 2 on bad flags.
 */
import { parseArgs } from 'node:util';
import { runSimulation } from '../src/testing/sim.js';

const USAGE = 'usage: npm run sim -- [--seeds N] [--from N] [--seed N] [--steps M] [--protocol 1|2] [--instances N] [--trace]';

function readFlags() {
  try {
    const { values } = parseArgs({
      options: {
        seeds: { type: 'string', default: '200' },
        from: { type: 'string', default: '1' },
        seed: { type: 'string' },
        steps: { type: 'string', default: '200' },
        protocol: { type: 'string' },
        instances: { type: 'string', default: '1' },
        trace: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    const whole = (name: string, text: string | undefined, min: number) => {
      const value = Number(text);
      if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be a whole number >= ${min}; received ${JSON.stringify(text)}`);
      return value;
    };
    const instances = whole('instances', values.instances, 1);
    if (instances > 8) throw new Error(`--instances must be 8 at most; received ${instances}`);
    if (instances > 1 && values.protocol === '1') throw new Error(`--instances ${instances} needs version 2 runs; received --protocol 1`);
    return {
      seeds: whole('seeds', values.seeds, 1),
      from: whole('from', values.from, 0),
      seed: values.seed === undefined ? undefined : whole('seed', values.seed, 0),
      steps: whole('steps', values.steps, 1),
      protocol: protocolFlag(values.protocol),
      instances,
      trace: values.trace ?? false,
    };
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

function protocolFlag(text: string | undefined): 1 | 2 | undefined {
  if (text === undefined) return undefined;
  if (text === '1' || text === '2') return Number(text) as 1 | 2;
  throw new Error(`--protocol must be 1 or 2; received ${JSON.stringify(text)}`);
}

const flags = readFlags();
const seeds = flags.seed !== undefined ? [flags.seed] : Array.from({ length: flags.seeds }, (_, i) => flags.from + i);
const started = performance.now();
let outages = 0;
let simulatedMs = 0;
const failures: Array<{ seed: number; failure: string; tail: string[] }> = [];
/** Per protocol version: runs, outages and wall time. */
const byProtocol = { 1: { runs: 0, outages: 0, ms: 0 }, 2: { runs: 0, outages: 0, ms: 0 } };
const instanceTally = { crashes: 0, unansweredAtCrash: 0, engineOutages: 0, moves: 0 };
const channels = { forbidden: 0, tokenRefreshes: 0, tokenExpiries: 0, snapshots: 0, replays: 0, presenceJoins: 0, presenceLeaves: 0, opsAcked: 0 };

for (const seed of seeds) {
  const runStarted = performance.now();
  const result = await runSimulation({
    seed,
    steps: flags.steps,
    ...(flags.protocol !== undefined ? { protocol: flags.protocol } : {}),
    ...(flags.instances > 1 ? { instances: flags.instances } : {}),
    ...(flags.trace ? { trace: (line: string) => console.log(line) } : {}),
  });
  const mine = byProtocol[result.protocol];
  mine.runs++;
  mine.outages += result.outages;
  mine.ms += performance.now() - runStarted;
  outages += result.outages;
  simulatedMs += result.simulatedMs;
  if (result.channels !== undefined) for (const key of Object.keys(channels) as Array<keyof typeof channels>) channels[key] += result.channels[key];
  if (result.instances !== undefined) for (const key of Object.keys(instanceTally) as Array<keyof typeof instanceTally>) instanceTally[key] += result.instances[key];
  if (!result.ok) failures.push({ seed, failure: result.failure ?? 'failed', tail: result.tail });
}

const seconds = (performance.now() - started) / 1000;
for (const { seed, failure, tail } of failures) {
  console.log(`\nFAIL seed ${seed}: ${failure}`);
  if (!flags.trace) console.log(tail.slice(-15).map((line) => `    ${line}`).join('\n'));
  console.log(
    `  replay: npm run sim -- --seed ${seed} --steps ${flags.steps}${flags.protocol !== undefined ? ` --protocol ${flags.protocol}` : ''}${flags.instances > 1 ? ` --instances ${flags.instances}` : ''} --trace`,
  );
}
console.log(
  `\n${seeds.length} seed(s), ${failures.length} failed · ${outages} outages in ${seconds.toFixed(2)} s wall ` +
    `(${Math.round(outages / seconds)} outages/s, ${(simulatedMs / 3_600_000).toFixed(1)} simulated hours)`,
);
for (const version of [1, 2] as const) {
  const { runs, outages: count, ms } = byProtocol[version];
  if (runs > 0) console.log(`  version ${version}: ${runs} run(s), ${count} outages in ${(ms / 1000).toFixed(2)} s (${Math.round(count / (ms / 1000))} outages/s)`);
}
if (byProtocol[2].runs > 0) {
  console.log(
    `  channels: ${channels.opsAcked} ops acked, ${channels.forbidden} forbidden subscribes, ${channels.tokenRefreshes} token refreshes, ` +
      `${channels.tokenExpiries} expiries (4419), ${channels.snapshots} snapshots, ${channels.replays} replays, ` +
      `${channels.presenceJoins} joins, ${channels.presenceLeaves} leaves`,
  );
}
if (flags.instances > 1) {
  console.log(
    `  instances: ${flags.instances} per run, ${instanceTally.crashes} crashes (${instanceTally.unansweredAtCrash} requests to the store unanswered at them), ` +
      `${instanceTally.engineOutages} engine outages, ${instanceTally.moves} reconnects to another instance`,
  );
}
process.exitCode = failures.length > 0 ? 1 : 0;
