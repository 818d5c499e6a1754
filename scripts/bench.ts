/**
 * `npm run bench -- [flags]`: statesocket against raw ws, partysocket and
 * reconnecting-websocket, in one run (see bench/run.ts and bench/scenarios/).
 * Writes bench/RESULTS.md and bench/results.json (tiny mode: a temp dir).
 *
 * Exit codes: 0 every scenario ran (missed targets are reported, not failed:
 * benchmarks are not tests); 1 a scenario could not run; 2 bad flags.
 */
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runBench } from '../bench/run.js';
import { clientFlags, killAllChildren } from '../bench/lib/children.js';
import { PROFILES, SCENARIOS, type Mode, type ScenarioId } from '../bench/lib/profile.js';
import { toMarkdown } from '../bench/lib/report.js';

const USAGE = `usage: npm run bench -- [--quick | --full | --tiny] [--only LIST] [--out DIR] [--cpu-prof DIR]

  --quick          default: about 5 minutes on a shared 2-core machine
  --full           more repetitions, longer windows, and the 10k-connection fan-out
  --tiny           toy sizes, about a minute (the default when CI=true)
  --only LIST      comma-separated scenarios: ${SCENARIOS.join(', ')}
  --out DIR        where RESULTS.md and results.json go
                   (default bench/; with --tiny a temp dir, so CI never overwrites the committed figures)
  --cpu-prof DIR   run every client process with node --cpu-prof, profiles written to DIR
  -h, --help       show this help
`;

/** The whole run may not take longer than this (every wait inside is bounded too). */
const DEADLINE_MS: Record<Mode, number> = { tiny: 3 * 60_000, quick: 15 * 60_000, full: 45 * 60_000 };

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const OPTIONS = {
  quick: { type: 'boolean' },
  full: { type: 'boolean' },
  tiny: { type: 'boolean' },
  only: { type: 'string' },
  out: { type: 'string' },
  'cpu-prof': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true; allowPositionals: false }>>['values'];
try {
  ({ values } = parseArgs({ args: process.argv.slice(2), options: OPTIONS, strict: true, allowPositionals: false }));
} catch (error) {
  usageError((error as Error).message);
}
if (values.help === true) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const chosen = (['quick', 'full', 'tiny'] as const).filter((mode) => values[mode] === true);
if (chosen.length > 1) usageError(`pick one of --quick, --full, --tiny; received ${chosen.map((m) => `--${m}`).join(' ')}`);
const mode: Mode = chosen[0] ?? (process.env.CI === 'true' ? 'tiny' : 'quick');

let scenarios: ScenarioId[] = [...SCENARIOS];
if (typeof values.only === 'string') {
  const wanted = values.only.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length > 0 || wanted.length === 0) usageError(`--only takes scenarios from: ${SCENARIOS.join(', ')}; received ${JSON.stringify(values.only)}`);
  scenarios = SCENARIOS.filter((s) => wanted.includes(s));
}

const benchDir = fileURLToPath(new URL('../bench/', import.meta.url));
const outDir = typeof values.out === 'string' ? resolve(values.out) : mode === 'tiny' ? join(tmpdir(), 'statesocket-bench-tiny') : benchDir;
if (typeof values['cpu-prof'] === 'string') clientFlags.push('--cpu-prof', `--cpu-prof-dir=${resolve(values['cpu-prof'])}`);

const deadline = setTimeout(() => {
  process.stderr.write(`bench: still running after ${DEADLINE_MS[mode] / 60_000} min; giving up\n`);
  killAllChildren();
  process.exit(1);
}, DEADLINE_MS[mode]);
deadline.unref();

const log = (line: string) => process.stderr.write(`${line}\n`);
log(`bench: ${mode} mode, scenarios ${scenarios.join(', ')}`);
try {
  const { report, failed, files } = await runBench({ profile: PROFILES[mode], scenarios, outDir, log });
  process.stdout.write(`\n${toMarkdown(report)}\n`);
  log(`bench: wrote ${files.join(' and ')} in ${Math.round(report.seconds)} s${failed > 0 ? `; ${failed} scenario(s) failed` : ''}`);
  process.exitCode = failed > 0 ? 1 : 0;
} catch (error) {
  log(`bench: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  killAllChildren();
}
