/**
 * The README and docs/ as a specification: every TypeScript block type-checks
 * against the package's entries, every block marked `<!-- run -->` runs
 * against the real server started as the page says and prints what the page
 * shows, and every link to a heading of the README or docs/ finds it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, startServerProcess } from './integration/server-process.js';
import { onCleanup } from './support/cleanup.js';
import {
  ROOT,
  codeBlocks,
  looksLike,
  markdownFiles,
  matchesInOrder,
  runnableSource,
  typeCheckBlocks,
  typeScriptBlocks,
  type CodeBlock,
} from './support/doc-blocks.js';

afterEach(killAll);

const blocks = typeScriptBlocks();
const runnable = blocks.filter((block) => block.run);

describe('TypeScript blocks of the README and docs/', () => {
  it('include the README\'s first example, marked to run', () => {
    const first = blocks.find((block) => block.file === 'README.md');
    expect(first?.run, 'the first ts block of README.md needs <!-- run --> before it').toBe(true);
  });

  it('type-check against the package entries', { timeout: 120_000 }, () => {
    expect(typeCheckBlocks(blocks)).toEqual([]);
  });
});

/** The flags of the last `npx statesocket-server …` line shown before the block, in its own file. */
function serverArgs(block: CodeBlock): string[] {
  const before = codeBlocks(block.file, readFileSync(`${ROOT}${block.file}`, 'utf8')).filter((other) => other.line < block.line);
  const commands = before.flatMap((other) => other.code.split('\n')).filter((line) => line.startsWith('npx statesocket-server'));
  const command = commands.at(-1);
  if (command === undefined) throw new Error(`${block.file}:${block.line}: no \`npx statesocket-server\` command before the block`);
  return command.replace(/#.*$/, '').trim().split(/\s+/).slice(2);
}

/** The lines of the ```text block right after the run block: what the page says it prints. */
function shownOutput(block: CodeBlock): string[] {
  const all = codeBlocks(block.file, readFileSync(`${ROOT}${block.file}`, 'utf8'));
  const next = all[all.findIndex((other) => other.line === block.line) + 1];
  if (next?.lang !== 'text') throw new Error(`${block.file}:${block.line}: a run block needs its output in a \`\`\`text block after it`);
  return next.code.trimEnd().split('\n');
}

/** Runs the block with Node (tsx for the types) until its output shows `shown`; resolves with the lines printed. */
function runUntilShown(source: string, shown: string[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-docs-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'block.ts');
  writeFileSync(file, source);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the block did not print what the page shows within 20 s; it printed:\n${lines.join('\n')}\n${stderr}`)),
      20_000,
    );
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const complete = text.split('\n');
      partial = complete.pop() ?? '';
      lines.push(...complete);
      if (matchesInOrder(lines, shown)) {
        clearTimeout(timer);
        resolve(lines);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the block exited (code ${child.exitCode}) before printing what the page shows:\n${lines.join('\n')}\n${stderr}`));
    });
  });
}

describe.each(runnable.map((block) => [`${block.file}:${block.line}`, block] as const))('the block at %s', (_at, block) => {
  it('runs against the server started as shown and prints what the page shows', { timeout: 60_000 }, async () => {
    const server = await startServerProcess(serverArgs(block));
    const source = runnableSource(block, { 'ws://127.0.0.1:8080': server.url.replace(/\/$/, '') });
    const shown = shownOutput(block);
    const lines = await runUntilShown(source, shown);
    expect(matchesInOrder(lines, shown)).toBe(true);
  });
});

describe('the output matcher', () => {
  it.each([
    ['open {"BTC-USD":64001.5,"ETH-USD":3200}', 'open {"ETH-USD":3199.2,"BTC-USD":64000}', true],
    ['connecting {}', 'connecting {}', true],
    ['open {}', 'open {"BTC-USD":64000}', false],
    ['errored {"BTC-USD":64000}', 'open {"BTC-USD":64000}', false],
    ['open {"BTC-USD":"64000"}', 'open {"BTC-USD":64000}', false],
    ['state open · attempt 2', 'state open · attempt 0', true],
    ['state closed · attempt 2', 'state open · attempt 2', false],
  ])('compares %s with the shown %s: %s', (actual, shown, same) => {
    expect(looksLike(actual, shown)).toBe(same);
  });

  it('finds the shown lines in order, with other lines between', () => {
    const shown = ['open {"a":1}', 'open {"a":2}'];
    expect(matchesInOrder(['connecting {}', 'open {"a":5}', 'open {}', 'open {"a":6}'], shown)).toBe(true);
    expect(matchesInOrder(['connecting {}', 'open {"a":5}'], shown)).toBe(false);
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a markdown file offers: its headings and its `<a id>` elements. */
function anchorsOf(markdown: string): Set<string> {
  const found = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    const heading = /^#{1,6} (.*)$/.exec(line);
    if (heading) found.add(anchor(heading[1] ?? ''));
    for (const id of line.matchAll(/<a id="([^"]+)"><\/a>/g)) found.add(id[1] ?? '');
  }
  return found;
}

describe('links between the README and docs/', () => {
  it('find the headings they point at', () => {
    const broken: string[] = [];
    for (const file of markdownFiles()) {
      const text = readFileSync(`${ROOT}${file}`, 'utf8');
      const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/') + 1) : '';
      for (const link of text.matchAll(/\]\(([^)\s]*)#([^)\s]+)\)/g)) {
        const [, target = '', fragment = ''] = link;
        if (/^[a-z]+:/.test(target)) continue; // another site
        const path = target === '' ? file : join(dir, target);
        // A page another part of the work is still writing is checked once it exists.
        if (!existsSync(`${ROOT}${path}`)) continue;
        if (!anchorsOf(readFileSync(`${ROOT}${path}`, 'utf8')).has(fragment)) broken.push(`${file}: ${target}#${fragment}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
