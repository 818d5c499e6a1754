/**
 * Scenario 12's second table (issue 16): the two example apps in Chromium under the feed's
 * flood, the DOM app (app/, at `/`) beside the React example (app/react/, at `/react/`), both
 * served by the reference server (scripts/server.ts, a child process) with `--feed-rate 10000` on
 * their `prices` channel: one patch per change, 10,000 messages a second.
 *
 * Each run is a fresh page (a new browser context) that connects, shows the prices, and is then
 * measured while it receives `n` more messages: main-thread time per message (`TaskDuration` and
 * `ScriptDuration` from the DevTools protocol, thread CPU time, as the first table) and renders
 * per second (the DOM app's paints, the React example's price-table commits counted by its
 * `<Profiler>`), beside the animation frames that passed. Measured, not judged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { APP_CHANNELS } from '../../app/channels.js';
import { buildAssets } from '../../scripts/build-assets.js';
import { kill, startServerProcess, type ServerProcess } from '../../test/integration/server-process.js';
import { cell, num, type Table } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { withTimeout } from '../lib/time.js';

/** The feed's rate during the measurement: its maximum. */
export const APP_FLOOD_PER_SECOND = 10_000;

export const APPS = ['dom', 'react'] as const;
type AppName = (typeof APPS)[number];

const PATHS: Record<AppName, string> = { dom: '/', react: '/react/' };
const LABELS: Record<AppName, string> = {
  dom: 'DOM app (`app/`, `domView`, one paint per frame)',
  react: 'React example (`app/react/`, `statesocket/react`)',
};

export interface AppRun {
  /** Messages the page received while measured. */
  messages: number;
  /** Wall time of the measurement, ms (the page's clock). */
  ms: number;
  /** Paints (DOM app) or price-table commits (React example) while measured. */
  renders: number;
  /** Animation frames that passed while measured. */
  frames: number;
  /** Main-thread task and script time per message, µs. */
  taskUs: number;
  scriptUs: number;
}

/** What the page has counted so far. */
interface Counts {
  received: number;
  renders: number;
  frames: number;
  at: number;
}

declare global {
  interface Window {
    /** Frames counted by FRAME_COUNTER (the React example counts its own: `probe`). */
    benchFrames?: number;
  }
}

/**
 * Counts animation frames on the DOM app's page into `window.benchFrames`. A string, so the page
 * runs it as written (the bench runs under tsx, whose transform would name inner functions with a
 * helper the page does not have).
 */
const FRAME_COUNTER = 'window.benchFrames = 0; (function tick() { window.benchFrames++; requestAnimationFrame(tick); })();';

/** Reads the page's counters the same way for both apps (`statesocketApp`, `statesocketReact`). */
function readCounts(): Counts {
  const dom = window.statesocketApp;
  const react = window.statesocketReact;
  const connection = dom?.connection ?? react?.connection;
  if (connection === undefined) throw new Error('neither app is on this page');
  return {
    received: connection.getStatus().counters.received,
    renders: dom?.renders() ?? react?.probe.commits() ?? 0,
    frames: react?.probe.frames() ?? window.benchFrames ?? 0,
    at: performance.now(),
  };
}

async function runApp(browser: Browser, server: ServerProcess, app: AppName, n: number, timeoutMs: number): Promise<AppRun> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${server.port}${PATHS[app]}`, { timeout: timeoutMs });
    await page.waitForFunction(() => document.querySelectorAll('#prices-rows tr').length === 6, undefined, { timeout: timeoutMs });
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const before = await metrics();
    if (app === 'react') await page.evaluate(() => window.statesocketReact?.probe.start());
    else await page.evaluate(FRAME_COUNTER);
    const start = await page.evaluate(readCounts);
    await withTimeout(
      page.waitForFunction(
        (until) => ((window.statesocketApp ?? window.statesocketReact)?.connection.getStatus().counters.received ?? 0) >= until,
        start.received + n,
        { timeout: 0, polling: 'raf' },
      ),
      timeoutMs,
      `the ${app} page to receive ${num(n)} messages of the flood`,
    );
    const end = await page.evaluate(readCounts);
    const after = await metrics();
    if (errors.length > 0) throw new Error(`the ${app} page threw: ${errors.join('; ')}`);
    const messages = end.received - start.received;
    const delta = (name: string) => ((after[name] ?? NaN) - (before[name] ?? NaN)) * 1e6;
    return {
      messages,
      ms: end.at - start.at,
      renders: end.renders - start.renders,
      frames: end.frames - start.frames,
      taskUs: delta('TaskDuration') / messages,
      scriptUs: delta('ScriptDuration') / messages,
    };
  } finally {
    await context.close();
  }
}

/** Runs both apps `repetitions` times in alternating order against one flooding server; returns the table and the runs. */
export async function measureApps(
  browser: Browser,
  n: number,
  repetitions: number,
  log: (line: string) => void,
): Promise<{ table: Table; runs: Record<AppName, AppRun[]> }> {
  const timeoutMs = 60_000;
  await buildAssets();
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-bench-apps-'));
  const runs: Record<AppName, AppRun[]> = { dom: [], react: [] };
  const server = await startServerProcess(['--feed-rate', String(APP_FLOOD_PER_SECOND), '--feed-channel', APP_CHANNELS.prices, '--data-file', join(dir, 'data.json')]);
  try {
    for (const app of APPS) await runApp(browser, server, app, Math.min(n, 2_000), timeoutMs); // warm-up, not counted
    for (let rep = 0; rep < repetitions; rep++) {
      for (const app of rep % 2 === 0 ? APPS : [...APPS].reverse()) {
        const run = await runApp(browser, server, app, n, timeoutMs);
        runs[app].push(run);
        log(`browser apps ${rep + 1}/${repetitions} ${app}: ${num(run.taskUs, 2)} µs main-thread task time per message, ${num((run.renders / run.ms) * 1000)} renders/s in ${num((run.frames / run.ms) * 1000)} frames/s`);
      }
    }
  } finally {
    await kill(server);
    rmSync(dir, { recursive: true, force: true });
  }
  const pick = (app: AppName, f: (r: AppRun) => number) => summarize(runs[app].map(f));
  const rows = APPS.map((app) => [
    LABELS[app],
    cell(pick(app, (r) => r.taskUs), 2),
    cell(pick(app, (r) => r.scriptUs), 2),
    cell(pick(app, (r) => (r.renders / r.ms) * 1000)),
    cell(pick(app, (r) => (r.frames / r.ms) * 1000)),
    cell(pick(app, (r) => (r.messages / r.ms) * 1000)),
  ]);
  return {
    runs,
    table: {
      title: `The example apps under the feed's flood (${num(APP_FLOOD_PER_SECOND)} messages/s)`,
      columns: ['app', 'main-thread task µs/message', 'of which script µs/message', 'renders/s', 'animation frames/s', 'messages/s received'],
      rows,
      notes: [
        `The reference server (scripts/server.ts, a child process) runs the price feed at ${num(APP_FLOOD_PER_SECOND)} changes/s on \`prices\`, one patch each; each app, loaded from it in a fresh browser context, is measured from when it shows the prices until it has received ${num(n)} more messages.`,
        'Renders: the DOM app\'s paints (every panel, at most one per frame) and the React example\'s commits of its price table (its `<Profiler>`, React\'s profiling build); frames: `requestAnimationFrame` callbacks of a counter in the page over the same window. Main-thread time as in the table above.',
        `${repetitions} repetition(s) after one warm-up of each app (2,000 messages), in alternating order; measured, not judged.`,
      ],
    },
  };
}
