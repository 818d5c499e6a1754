/**
 * Issue 15's bench pieces that can be checked without measuring anything: the worst-of-repetitions
 * ratio every target is judged on, the bench server's page route (scenario 12 loads its pages from
 * it), and scenario 12 without Chromium (it says so, or fails under CI).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ServerProcess } from '../../bench/lib/children.js';
import { PROFILES } from '../../bench/lib/profile.js';
import { pairedRatios } from '../../bench/lib/stats.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('paired ratios', () => {
  it('divides repetition by repetition and takes the worst: the highest for a cost, the lowest for a rate', () => {
    expect(pairedRatios([2, 6, 3], [1, 2, 3], 'highest')).toEqual({ ratios: [2, 3, 1], worst: 3, median: 2 });
    expect(pairedRatios([2, 6, 3], [1, 2, 3], 'lowest').worst).toBe(1);
  });

  it('pairs only the repetitions both sides have', () => {
    expect(pairedRatios([4, 4, 4], [2, 4], 'highest').ratios).toEqual([2, 1]);
  });

  it('reads NaN when a side is missing or a reference is zero, so the target reads n/a', () => {
    expect(pairedRatios([], [1], 'highest').worst).toBeNaN();
    expect(pairedRatios([1, 2], [1, 0], 'highest').worst).toBeNaN();
  });
});

describe('the bench server\'s pages', () => {
  it('serves an .html file of the named directory at /browser/NAME.html, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'statesocket-bench-pages-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'page-1.html'), '<p>hello</p>');
    writeFileSync(join(dir, 'notes.txt'), 'not a page');
    const server = await ServerProcess.start('pages test server');
    cleanups.push(() => server.kill());
    const get = async (path: string, init?: RequestInit) => {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`, init);
      return { status: res.status, body: await res.text() };
    };
    expect((await get('/browser/page-1.html')).status).toBe(404); // nothing served before serve-pages
    await server.servePages(dir);
    expect(await get('/browser/page-1.html')).toEqual({ status: 200, body: '<p>hello</p>' });
    for (const path of ['/browser/missing.html', '/browser/notes.txt', '/browser/..%2Fpage-1.html', '/browser/../browser/page-1.html?x', '/browser/Page-1.html', '/page-1.html']) {
      expect((await get(path)).status, path).toBe(404);
    }
    expect((await get('/browser/page-1.html', { method: 'POST', body: 'x' })).status).toBe(404);
  });
});

describe('scenario 12 without Chromium', () => {
  const missing = '/nonexistent/statesocket-test/chromium';
  const ctx = { profile: PROFILES.tiny, log: () => {} };

  it('says Chromium is missing and leaves its target unjudged', async () => {
    vi.stubEnv('CHROMIUM_PATH', missing);
    vi.stubEnv('CI', 'false');
    const { browserScenario } = await import('../../bench/scenarios/browser.js');
    const result = await browserScenario(ctx);
    expect(result.targets).toHaveLength(1);
    expect(result.targets[0]!.met).toBeNull();
    expect(result.targets[0]!.measured).toContain(`Chromium not found at ${missing}`);
  });

  it('fails under CI, which installs Chromium before the bench', async () => {
    vi.stubEnv('CHROMIUM_PATH', missing);
    vi.stubEnv('CI', 'true');
    const { browserScenario } = await import('../../bench/scenarios/browser.js');
    await expect(browserScenario(ctx)).rejects.toThrow(/Chromium not found at .*CI runs this scenario/);
  });
});
