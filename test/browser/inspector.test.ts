/**
 * The inspector page in a real Chromium, fed by a real client against the
 * real sync server through the relay. Run with `npm run test:browser`.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { AnyStateNode } from 'xstate';
import { WebSocket } from 'ws';
import { connectionMachine } from '../../machines/connection.js';
import type { InspectorProbe } from '../../src/inspect/page/main.js';
import { startInspectorServer, type RunningInspectorServer } from '../../src/inspect/relay-server.js';
import type { Connection } from '../../src/connection.js';
import { createConnection } from '../../src/node.js';
import { startSyncServer, type RunningServer } from '../../src/server/start.js';
import { createSyncProtocol } from '../../src/sync/client-protocol.js';
import type { StoreData } from '../../src/store.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.js';


let browser: Browser;
let relay: RunningInspectorServer;
let server: RunningServer;
let connection: Connection;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the browser tests need it. Install it with \`apt-get install -y chromium\`, ` +
        'or set CHROMIUM_PATH to a Chromium or Chrome binary.',
    );
  }
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  relay = await startInspectorServer({ port: 0 });
  server = await startSyncServer({ control: true, host: '127.0.0.1', port: 0, feedRatePerSec: 4 });
  connection = createConnection({
    url: `${server.url}?token=s3cret-token`,
    protocol: createSyncProtocol(),
    heartbeat: { intervalMs: 1_000, timeoutMs: 800 },
    reconnect: { initialDelayMs: 150, maxDelayMs: 600 },
    inspect: { url: relay.sourceUrl },
  });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  connection?.stop();
  await browser?.close();
  await server?.close();
  await relay?.close();
});

/** A page on the inspector; any script error on it fails the test. */
async function openInspector(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  cleanups.push(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(relay.pageUrl);
  return { page, errors };
}

/** Reads `window.__inspector` (a string expression: the page's CSP forbids eval, not the DevTools protocol). */
function probe<T>(page: Page, read: (probe: InspectorProbe) => T): Promise<T> {
  return page.evaluate(`(${read.toString()})(window.__inspector)`) as Promise<T>;
}

/**
 * Polls `check(window.__inspector)` from here until true (a function, or an
 * expression over `p`); the error says what did not happen and what the page shows.
 */
async function waitFor(page: Page, check: ((probe: InspectorProbe) => boolean) | string, what: string, timeout = 15_000): Promise<void> {
  const deadline = Date.now() + timeout;
  const predicate = typeof check === 'string' ? `(p) => (${check})` : check.toString();
  const expression = `window.__inspector !== undefined && (${predicate})(window.__inspector)`;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) {
      const state = await probe(page, (p) => ({
        relay: p.relay,
        selected: p.selected,
        highlighted: p.highlighted,
        log: p.log.slice(-8).map((e) => `${e.eventType} → ${e.state}`),
      }));
      throw new Error(`timed out after ${timeout} ms waiting until ${what}\ninspector: ${JSON.stringify(state, null, 1)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function allStateIds(node: AnyStateNode = connectionMachine.root): string[] {
  return [node.id, ...Object.values(node.states).flatMap((child) => allStateIds(child as AnyStateNode))];
}

describe('inspector page in Chromium', () => {
  it('draws the whole machine, lights open, and logs a drop as errored → connecting → open', async () => {
    const { page, errors } = await openInspector();
    await waitFor(page, (p) => p.highlighted.includes('connection.session.open'), 'open is lit');

    const drawn = await probe(page, (p) => p.states);
    expect(drawn).toEqual(expect.arrayContaining(allStateIds()));
    expect(await page.locator('svg.chart [data-state-id]').count()).toBe(allStateIds().length);
    expect(await probe(page, (p) => p.actors.map((a) => a.name))).toEqual(['connection']);

    const before = await probe(page, (p) => p.log.at(-1)?.seq ?? 0);
    const historyBefore = connection.history.length;
    const response = await fetch(`http://127.0.0.1:${server.port}/control/drop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.controlToken}` },
    });
    expect(response.ok).toBe(true);

    // The order comes from the log (one row per snapshot), not the highlight: a state can last less than a frame.
    const modesAfter = `(p, seq) => {
      const modes = [];
      for (const entry of p.log) {
        if (entry.seq <= seq) continue;
        const mode = entry.stateIds.includes('connection.errored') ? 'errored'
          : entry.stateIds.includes('connection.session.connecting') ? 'connecting'
          : entry.stateIds.includes('connection.session.open') ? 'open' : 'other';
        if (modes.at(-1) !== mode) modes.push(mode);
      }
      return modes;
    }`;
    await waitFor(
      page,
      `((m) => { const e = m.indexOf('errored'), c = m.indexOf('connecting', e), o = m.indexOf('open', c); return e >= 0 && c > e && o > c; })((${modesAfter})(p, ${before}))`,
      'the log shows errored, connecting, open',
    );
    const modes = (await page.evaluate(`(${modesAfter})(window.__inspector, ${before})`)) as string[];
    const errored = modes.indexOf('errored');
    expect(modes.slice(errored, modes.indexOf('open', errored) + 1)).toEqual(['errored', 'connecting', 'open']);
    expect(connection.history.slice(historyBefore).map((entry) => entry.state)).toEqual(
      expect.arrayContaining(['errored', 'connecting', 'open']),
    );

    await waitFor(
      page,
      (p) => p.highlighted.includes('connection.session.open') && !p.highlighted.includes('connection.errored') && !p.highlighted.includes('connection.session.connecting'),
      'the highlight settles on open',
    );
    const logText = await page.locator('#log-body').innerText();
    expect(logText).toContain('socket.closed');
    expect(logText).toContain('errored.waiting');
    expect(logText).toContain('socket.opened');

    // The context tree shows the URL, its token redacted; nothing on the page shows the token.
    await waitFor(page, () => document.querySelector('#context')?.textContent?.includes('token=[redacted]') === true, 'the context shows the redacted URL');
    expect(await page.content()).not.toContain('s3cret-token');

    await page.waitForTimeout(300); // let the taken arrow and the last rows paint
    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/inspector.png' });
    // The README's screenshot is refreshed on request only, so a test run leaves the tree clean.
    if (process.env.UPDATE_SCREENSHOTS === '1') await copyFile('test-artifacts/inspector.png', 'docs/inspector.png');
    expect(errors).toEqual([]);
  });

  it('shows a page opened late the machine and its current state (the relay replays them)', async () => {
    const { page, errors } = await openInspector();
    await waitFor(page, (p) => p.highlighted.includes('connection.session.open') && p.states.length > 20, 'open is lit after the replay');
    expect(await probe(page, (p) => p.log.length)).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });

  it('lists several sources, switches between them, and stays responsive under a flood', async () => {
    const { page, errors } = await openInspector();
    await waitFor(page, (p) => p.highlighted.includes('connection.session.open'), 'open is lit');

    // A second inspected process: a machine sending 5000 snapshots as fast as it can.
    const flood = new WebSocket(relay.sourceUrl);
    cleanups.push(() => flood.terminate());
    await new Promise((resolve, reject) => {
      flood.once('open', resolve);
      flood.once('error', reject);
    });
    const definition = JSON.stringify({ id: 'ticker', initial: 'a', states: { a: { on: { tick: 'b' } }, b: { on: { tick: 'a' } } } });
    flood.send(JSON.stringify({ type: '@xstate.actor', sessionId: 'x:0', name: 'ticker', definition, snapshot: { value: 'a', status: 'active' } }));
    const total = 5000;
    for (let i = 1; i <= total; i++) {
      flood.send(
        JSON.stringify({ type: '@xstate.snapshot', sessionId: 'x:0', event: { type: 'tick', n: i }, snapshot: { value: i % 2 ? 'b' : 'a', status: 'active', context: { n: i } } }),
      );
    }
    await waitFor(page, (p) => p.actors.length === 2, 'both machines are listed');
    const ticker = (await probe(page, (p) => p.actors.find((a) => a.name === 'ticker')?.sessionId)) as string;
    expect(ticker).toMatch(/^s\d+:x:0$/);

    await page.locator(`button.actor[data-session="${ticker}"]`).click();
    await waitFor(page, (p) => p.selected !== null && p.selected.endsWith(':x:0') && p.states.includes('ticker.a'), 'the ticker is drawn');
    const last = `{"n":${total}}`;
    await waitFor(page, `p.log.at(-1)?.payload === ${JSON.stringify(last)}`, 'the last tick is logged', 20_000);

    const after = await probe(page, (p) => ({ rows: p.log.length, frames: p.frames, messages: p.messages, highlighted: p.highlighted }));
    expect(after.rows).toBe(500); // capped
    expect(await page.locator('#log-body tr').count()).toBeLessThanOrEqual(500);
    expect(after.frames).toBeLessThan(after.messages / 10); // batched per frame, not per message
    expect(after.highlighted).toContain('ticker.a'); // 5000 is even
    // Still responsive: a round trip into the page is quick.
    const started = Date.now();
    await page.evaluate('1 + 1');
    expect(Date.now() - started).toBeLessThan(500);

    // Pausing freezes the log; resuming brings it up to date.
    await page.locator('#log-pause').click();
    expect(await probe(page, (p) => p.paused)).toBe(true);
    await page.locator('#log-pause').click();
    expect(await probe(page, (p) => p.paused)).toBe(false);

    await page.locator(`button.actor:has-text("connection")`).click();
    await waitFor(page, (p) => p.highlighted.includes('connection.session.open'), 'back on the connection');
    expect(errors).toEqual([]);
  });
});
