/**
 * Scenario 12 (issue 15): the per-message cost in a browser, where every WebSocket message is a
 * task of its own. Debian's Chromium (CHROMIUM_PATH, default /usr/bin/chromium), driven by
 * playwright-core, loads two pages from the bench server (bench/browser/):
 *
 * - `statesocket`: a connection with the sync protocol, a counting `createStore()` and scenario 1's
 *   rows view, renders coalesced by `animationFrameScheduler()`;
 * - `websocket`: the bare `WebSocket` doing the same Model and View work, with the same coalescing.
 *
 * Each receives the snapshot and `n` patches the server writes as fast as the socket drains
 * (`/blast`). Main-thread time per message: `TaskDuration` (and `ScriptDuration`) from the
 * DevTools protocol's `Performance.getMetrics`, thread CPU time (`timeDomain: 'threadTicks'`),
 * taken before the page connects and after it rendered the final data. Repetitions alternate
 * the order of the two pages; every page is fresh (a new browser context).
 *
 * Then the two example apps under the reference server's feed flood, the DOM app beside the React
 * example (issue 16: ./browser-apps.ts), a second table, measured and not judged.
 *
 * Without Chromium the scenario says so and is not judged; under CI (`CI=true`) that fails the
 * scenario instead, so CI never skips it without a word.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../test/browser/chromium.js';
import type { PageResult } from '../browser/page.js';
import { ServerProcess } from '../lib/children.js';
import { cell, num, verdict, type TargetCheck } from '../lib/report.js';
import { pairedRatios, summarize } from '../lib/stats.js';
import { withTimeout } from '../lib/time.js';
import { expectedRows } from '../wire.js';
import { measureApps } from './browser-apps.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PAGES_DIR = join(ROOT, 'bench/.build/browser');

export const PAGES = ['websocket', 'statesocket'] as const;
type PageName = (typeof PAGES)[number];

const LABELS: Record<PageName, string> = {
  websocket: 'bare `WebSocket` (the floor)',
  statesocket: 'statesocket, sync protocol',
};

/** Issue 15: statesocket's page spends at most this many times the bare page's main-thread time per message. */
export const BROWSER_TARGET = 1.5;

interface Run extends Omit<PageResult, 'data'> {
  /** Main-thread task time per message, µs. */
  taskUs: number;
  /** Of which script, µs. */
  scriptUs: number;
  correct: boolean;
}

/**
 * Bundles each page for the browser and writes it as one HTML file into `dir`. `readable`: not
 * minified, so a CPU profile names functions and the bundle's `// src/…` comments name their files
 * (bench/probes/browser-profile.ts); the scenario measures the minified bundle an application ships.
 */
export async function buildPages(dir = PAGES_DIR, readable = false): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const page of PAGES) {
    const out = await build({
      entryPoints: [join(ROOT, `bench/browser/${page}-page.ts`)],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'iife',
      target: 'es2022',
      minify: !readable,
      logLevel: 'silent',
    });
    // `</script` cannot occur in a bundle of ours; checked rather than assumed.
    const script = out.outputFiles[0]!.text;
    if (script.includes('</script')) throw new Error(`bench: the ${page} page's bundle contains "</script"`);
    writeFileSync(join(dir, `${page}.html`), `<!doctype html><meta charset="utf-8"><title>${page}</title><script>${script}</script>\n`);
  }
}

type Metrics = Record<string, number>;

/** One fresh page: load, metrics, run, metrics. */
async function runPage(browser: Browser, server: ServerProcess, page: PageName, n: number, timeoutMs: number): Promise<Run> {
  const context = await browser.newContext();
  try {
    const tab = await context.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (error) => errors.push(error.message));
    await tab.goto(`http://127.0.0.1:${server.port}/browser/${page}.html`, { timeout: timeoutMs });
    await tab.waitForFunction(() => typeof window.benchRun === 'function', undefined, { timeout: timeoutMs });
    const cdp = await context.newCDPSession(tab);
    await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
    const metrics = async (): Promise<Metrics> =>
      Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const before = await metrics();
    const url = `ws://127.0.0.1:${server.port}/blast?n=${n}`;
    const result = await withTimeout(
      tab.evaluate(([u, count]) => window.benchRun!(u, count), [url, n] as const),
      timeoutMs,
      `the ${page} page to apply and render ${num(n)} patches`,
    );
    const after = await metrics();
    if (errors.length > 0) throw new Error(`the ${page} page threw: ${errors.join('; ')}`);
    const delta = (name: string) => ((after[name] ?? NaN) - (before[name] ?? NaN)) * 1e6;
    const { data, ...rest } = result;
    return {
      ...rest,
      taskUs: delta('TaskDuration') / n,
      scriptUs: delta('ScriptDuration') / n,
      correct: rest.patches === n && rest.renderedFinal && isDeepStrictEqual({ ...data }, expectedRows(n)),
    };
  } finally {
    await context.close();
  }
}

export async function browserScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { messages: n, repetitions } = ctx.profile.browser;
  const params = { messages: n, repetitions, chromium: CHROMIUM_PATH };
  if (!existsSync(CHROMIUM_PATH)) {
    const reason = `Chromium not found at ${CHROMIUM_PATH} (Debian: apt-get install -y chromium; or set CHROMIUM_PATH)`;
    // CI installs Chromium before the bench: there a missing one is a failure, never a silent skip.
    if (process.env.CI === 'true') throw new Error(`${reason}; CI runs this scenario`);
    ctx.log(`browser: ${reason}; not measured`);
    return {
      params,
      tables: [{ columns: ['page', 'not measured'], rows: PAGES.map((p) => [LABELS[p], reason]) }],
      targets: [{ name: 'main-thread time per message in Chromium', required: `≤ ${BROWSER_TARGET}× the bare WebSocket page`, measured: reason, met: null }],
      data: null,
    };
  }
  const timeoutMs = 60_000;
  await buildPages();
  const runs: Record<PageName, Run[]> = { websocket: [], statesocket: [] };
  const server = await ServerProcess.start('browser scenario server');
  let browser: Browser | null = null;
  let apps: Awaited<ReturnType<typeof measureApps>> | null = null;
  try {
    await server.prepareBlast(n);
    await server.servePages(PAGES_DIR);
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: timeoutMs });
    // One warm-up of each page, not counted: Chromium's caches and the server's first blast.
    for (const page of PAGES) await runPage(browser, server, page, Math.min(n, 2_000), timeoutMs);
    for (let rep = 0; rep < repetitions; rep++) {
      const order = rep % 2 === 0 ? PAGES : [...PAGES].reverse();
      for (const page of order) {
        const run = await runPage(browser, server, page, n, timeoutMs);
        runs[page].push(run);
        ctx.log(`browser ${rep + 1}/${repetitions} ${page}: ${num(run.taskUs, 2)} µs main-thread task time per message (script ${num(run.scriptUs, 2)})`);
      }
    }
    apps = await measureApps(browser, n, repetitions, ctx.log);
  } finally {
    await browser?.close();
    await server.kill();
  }
  const pick = (page: PageName, f: (r: Run) => number) => runs[page].map(f);
  const ratios = pairedRatios(pick('statesocket', (r) => r.taskUs), pick('websocket', (r) => r.taskUs), 'highest');
  const scriptRatios = pairedRatios(pick('statesocket', (r) => r.scriptUs), pick('websocket', (r) => r.scriptUs), 'highest');
  const met = Number.isFinite(ratios.worst) ? ratios.worst <= BROWSER_TARGET : null;
  const targets: TargetCheck[] = [
    {
      name: `main-thread time per message in Chromium, ${num(n)} messages (worst of ${repetitions})`,
      required: `≤ ${BROWSER_TARGET}× the bare WebSocket page`,
      measured: `${num(ratios.worst, 2)}×`,
      met,
    },
  ];
  ctx.log(`browser: statesocket's page spends ${num(ratios.worst, 2)}× the bare page's main-thread time per message (worst of ${repetitions}; median ${num(ratios.median, 2)}×)`);
  const rows = PAGES.map((page) => {
    const all = runs[page];
    return [
      LABELS[page],
      cell(summarize(pick(page, (r) => r.taskUs)), 2),
      cell(summarize(pick(page, (r) => r.scriptUs)), 2),
      cell(summarize(pick(page, (r) => (r.patches / r.ms) * 1000))),
      cell(summarize(pick(page, (r) => r.renders))),
      page === 'statesocket' ? `${num(ratios.median, 2)}× (worst ${num(ratios.worst, 2)}×)` : '1.00×',
      all.every((r) => r.correct) ? 'yes' : `no (${all.filter((r) => !r.correct).length} of ${all.length})`,
      page === 'statesocket' ? verdict(met) : '',
    ];
  });
  return {
    params,
    tables: [
      {
        columns: ['page', 'main-thread task µs/message', 'of which script µs/message', 'messages/s', 'renders', 'task time vs bare WebSocket (median, worst)', 'final state correct', `target ≤ ${BROWSER_TARGET}×`],
        rows,
        notes: [
          `Chromium (${CHROMIUM_PATH}, headless, driven by playwright-core) loads each page from the bench server; the page receives a snapshot and ${num(n)} patch frames (scenario 1's, ~115 bytes) written as fast as the socket drains, applies each to a counting \`createStore()\` and renders scenario 1's rows view (sort and format 200 rows) at most once per animation frame.`,
          'Main-thread time: `TaskDuration` and `ScriptDuration` from the DevTools protocol (`Performance.getMetrics`, `timeDomain: threadTicks`, CPU time of the renderer\'s main thread), the difference between before the page connects and after it rendered the final data, divided by the messages. It includes the connection\'s setup and close, the same few tasks on both pages.',
          `${repetitions} repetition(s) after one warm-up of each page (2,000 messages), the two pages in alternating order, each in a fresh browser context; the ratio is taken within each repetition and judged on the worst (script-time ratio: median ${num(scriptRatios.median, 2)}×, worst ${num(scriptRatios.worst, 2)}×).`,
        ],
      },
      apps.table,
    ],
    targets,
    data: { pages: runs, apps: apps.runs },
  };
}
