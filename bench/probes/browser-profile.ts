// Probe for issue 15: where the main thread of scenario 12's pages (bench/scenarios/browser.ts) goes. The
// scenario's server, blast and pages, bundled without minifying (functions keep their names; the bundle's
// `// src/…` comments name their files); each page runs once to warm up, then once under the DevTools
// protocol's sampling profiler (`Profiler.start`/`stop`, INTERVAL_US between samples). Prints, per page, the
// Performance metrics over the run and the top functions by self and by inclusive time, and self time by source
// file, in µs per message.
// TRACE=1: a Chromium trace of the run instead (devtools.timeline, v8, toplevel), its renderer main thread's
// events by name: count per message and thread time per message, inclusive and self (nested events subtracted).
//   node --import tsx bench/probes/browser-profile.ts [MESSAGES=20000] [TOP=25]   (INTERVAL_US=50, PAGES=websocket,statesocket, TRACE=1)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type CDPSession, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../test/browser/chromium.js';
import { ServerProcess } from '../lib/children.js';
import { buildPages, PAGES } from '../scenarios/browser.js';

const n = Number(process.argv[2] ?? 20_000);
const top = Number(process.argv[3] ?? 25);
const intervalUs = Number(process.env.INTERVAL_US ?? 50);
const pages = (process.env.PAGES ?? PAGES.join(',')).split(',');
const dir = join(fileURLToPath(new URL('../../', import.meta.url)), 'bench/.build/browser-profile');
const timeout = 120_000;
const trace = process.env.TRACE === '1';
const CATEGORIES = ['toplevel', 'blink', 'devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'v8.execute'];

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** For each line of a page's bundle, the source file esbuild's `// path` comment says it comes from. */
function fileOfLine(page: string): string[] {
  const lines = readFileSync(join(dir, `${page}.html`), 'utf8').split('\n');
  const files: string[] = [];
  let file = '';
  for (const line of lines) {
    const marker = /^ {2}\/\/ ((?:src|bench|machines|node_modules)\/\S+)$/.exec(line);
    if (marker) file = marker[1]!.replace(/^node_modules\//, '');
    files.push(file);
  }
  return files;
}

function label(frame: CallFrame, files: string[]): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  return `${name} ${files[frame.lineNumber] ?? '?'}:${frame.lineNumber + 1}`;
}

/** Self and inclusive time per function (µs), from the samples and the time until the next one. */
function analyze(profile: Profile, files: string[]): { self: Map<string, number>; total: Map<string, number>; busy: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!)!;
    const own = label(node.callFrame, files);
    self.set(own, (self.get(own) ?? 0) + us);
    if (own === '(idle)') continue;
    busy += us;
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const key = label(byId.get(id)!.callFrame, files);
      if (seen.has(key) || key === '(root)') continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + us);
    }
  }
  return { self, total, busy };
}

async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  return Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
}

async function run(tab: Page, cdp: CDPSession, server: ServerProcess, count: number): Promise<void> {
  const url = `ws://127.0.0.1:${server.port}/blast?n=${count}`;
  await tab.evaluate(([u, c]) => window.benchRun!(u, c), [url, count] as const);
}

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
  tts?: number;
  args?: { name?: string };
}
interface Span {
  name: string;
  start: number;
  end: number;
  thread: number;
  children: number;
}

/** The renderer main thread's events (the busiest CrRendererMain), nested by time: count, inclusive and self thread time. */
function traceTable(events: TraceEvent[]): Map<string, { count: number; total: number; self: number }> {
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const byThread = new Map<string, TraceEvent[]>();
  for (const event of events) {
    const key = `${event.pid}:${event.tid}`;
    if (!mains.has(key) || !['X', 'B', 'E'].includes(event.ph)) continue;
    let list = byThread.get(key);
    if (list === undefined) byThread.set(key, (list = []));
    list.push(event);
  }
  const busiest = [...byThread.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const spans: Span[] = [];
  const open: TraceEvent[] = [];
  for (const event of busiest.sort((a, b) => a.ts - b.ts)) {
    if (event.ph === 'X') spans.push({ name: event.name, start: event.ts, end: event.ts + (event.dur ?? 0), thread: event.tdur ?? 0, children: 0 });
    else if (event.ph === 'B') open.push(event);
    else {
      const begin = open.pop();
      if (begin !== undefined) spans.push({ name: begin.name, start: begin.ts, end: event.ts, thread: (event.tts ?? 0) - (begin.tts ?? 0), children: 0 });
    }
  }
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const stack: Span[] = [];
  for (const span of spans) {
    while (stack.length > 0 && stack[stack.length - 1]!.end <= span.start) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent !== undefined) parent.children += span.thread;
    stack.push(span);
  }
  const table = new Map<string, { count: number; total: number; self: number }>();
  for (const span of spans) {
    const row = table.get(span.name) ?? { count: 0, total: 0, self: 0 };
    row.count++;
    row.total += span.thread;
    row.self += span.thread - span.children;
    table.set(span.name, row);
  }
  return table;
}

async function traceRun(browser: Browser, tab: Page, cdp: CDPSession, page: string): Promise<void> {
  await browser.startTracing(tab, { categories: CATEGORIES });
  await run(tab, cdp, server, n);
  const buffer = await browser.stopTracing();
  const { traceEvents } = JSON.parse(buffer.toString('utf8')) as { traceEvents: TraceEvent[] };
  const table = [...traceTable(traceEvents)].sort((a, b) => b[1].self - a[1].self).slice(0, top);
  console.log(`${page}: trace of the renderer main thread, per message: count, thread µs inclusive, thread µs self`);
  for (const [name, row] of table) {
    console.log(`  ${(row.count / n).toFixed(2).padStart(6)} ${(row.total / n).toFixed(2).padStart(8)} ${(row.self / n).toFixed(2).padStart(8)}  ${name}`);
  }
}

/** Self time summed per source file (the part of a label after the function's name); native entries as they are. */
function byFile(self: Map<string, number>): Map<string, number> {
  const files = new Map<string, number>();
  for (const [key, us] of self) {
    const file = / (\S+):\d+$/.exec(key)?.[1] ?? key;
    files.set(file, (files.get(file) ?? 0) + us);
  }
  return files;
}

function print(title: string, entries: Map<string, number>): void {
  console.log(`  ${title} (µs per message)`);
  const sorted = [...entries].filter(([key]) => key !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, us] of sorted) console.log(`    ${(us / n).toFixed(2).padStart(7)}  ${key}`);
}

await buildPages(dir, true);
const server = await ServerProcess.start('browser-profile server');
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout });
try {
  await server.prepareBlast(n);
  await server.servePages(dir);
  for (const page of pages) {
    const files = fileOfLine(page);
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      await tab.goto(`http://127.0.0.1:${server.port}/browser/${page}.html`, { timeout });
      await tab.waitForFunction(() => typeof window.benchRun === 'function', undefined, { timeout });
      const cdp = await context.newCDPSession(tab);
      await run(tab, cdp, server, Math.min(n, 2_000)); // warm-up, as the scenario does
      if (trace) {
        await traceRun(browser, tab, cdp, page);
        continue;
      }
      await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: intervalUs });
      const before = await metrics(cdp);
      await cdp.send('Profiler.start');
      await run(tab, cdp, server, n);
      const { profile } = (await cdp.send('Profiler.stop')) as unknown as { profile: Profile };
      const after = await metrics(cdp);
      const delta = (name: string) => (((after[name] ?? NaN) - (before[name] ?? NaN)) * 1e6) / n;
      const { self, total, busy } = analyze(profile, files);
      console.log(
        `${page}: task ${delta('TaskDuration').toFixed(2)} µs/message, script ${delta('ScriptDuration').toFixed(2)}, ` +
          `sampled busy ${(busy / n).toFixed(2)} (profiler on, ${intervalUs} µs interval; ${profile.samples.length} samples)`,
      );
      print('self', self);
      print('inclusive', total);
      print('self, by source file', byFile(self));
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
  await server.kill();
}
