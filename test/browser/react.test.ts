/**
 * The React example (app/react/, served at `/react/`) in real Chromium, driven by playwright-core,
 * against the real reference server (scripts/server.ts as a child process, one at a time for the
 * whole file: killed and restarted on the same port, with a data file). The page draws the same
 * markup as the DOM app, so the table helpers are shared (./app-page.ts); it exposes its
 * connection and its counters as `window.statesocketReact` (app/react/probe.ts). One browser for
 * the file, a context per page. Every wait is on page or server state, bounded by WAIT_MS.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { APP_CHANNELS } from '../../app/channels.js';
import type { StateName } from '../../src/types.js';
import { control, kill, killAll, startServerProcess, type ServerProcess } from '../integration/server-process.js';
import { edit, expectTableToEqualServer, inOrder, notesState, table } from './app-page.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.js';

/** A safety net for waits on events, not a sleep. */
const WAIT_MS = 20_000;
/** The flood the table must coalesce: the feed's changes per second (its maximum), one patch each. */
const FLOOD_PER_SECOND = 10_000;

let browser: Browser;
let dir: string;
let server: ServerProcess;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}. Install it (Debian: apt-get install -y chromium) or point CHROMIUM_PATH at one.`);
  }
  dir = mkdtempSync(join(tmpdir(), 'statesocket-react-'));
  server = await startServerProcess(serverArgs());
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
});

// A test that failed with the server down leaves it down: the next one starts it again.
beforeEach(async () => {
  if (server.child.exitCode !== null || server.child.signalCode !== null) server = await startServerProcess(serverArgs(), server.port);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  expect(pageErrors.splice(0), 'uncaught errors in the page').toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await killAll();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function serverArgs(extra: readonly string[] = []): string[] {
  return ['--data-file', join(dir, 'data.json'), ...extra];
}

/** SIGKILLs the server and starts it again on the same port, with the same data file and `extra` flags. */
async function restart(extra: readonly string[] = []): Promise<void> {
  await kill(server);
  server = await startServerProcess(serverArgs(extra), server.port);
}

/** The React page in a context of its own (its own member); resolves once its connection is open. */
async function openPage(name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`));
  await page.goto(`http://127.0.0.1:${server.port}/react/?name=${name}`);
  await waitForState(page, 'open');
  return page;
}

function waitForState(page: Page, state: StateName): Promise<unknown> {
  return page.waitForFunction((wanted) => window.statesocketReact?.connection.getStatus().state === wanted, state);
}

function history(page: Page): Promise<StateName[]> {
  return page.evaluate(() => window.statesocketReact?.history() ?? []);
}

describe('the React example', () => {
  it('shows each of two pages the other in presence', async () => {
    const [ann, bob] = [await openPage('ann'), await openPage('bob')];
    const ids = await Promise.all([ann, bob].map((page) => page.evaluate(() => window.statesocketReact?.clientId ?? '')));
    for (const page of [ann, bob]) {
      await page.waitForFunction((wanted) => {
        const shown = [...document.querySelectorAll('#members li')].map((li) => li.textContent ?? '');
        return wanted.every((id) => shown.some((text) => text.includes(id)));
      }, ids);
      expect(await page.textContent('#here')).toBe('2 here');
    }
    const own = await ann.evaluate(() => document.querySelector('#members li[data-state="self"]')?.textContent ?? '');
    expect(own).toContain(ids[0]);
  });

  it('shows errored → connecting → open in the badge and the history after SIGKILL and restart, then the server\'s data', async () => {
    await control(server, `change?channel=${APP_CHANNELS.notes}`, { set: { kept: 'across the restart', n: 1 } });
    const page = await openPage('ann');
    await expectTableToEqualServer(page, server);
    const before = (await history(page)).length;

    await kill(server);
    await page.waitForFunction(() => document.querySelector('#status')?.getAttribute('data-state') === 'errored');
    await page.waitForFunction(() => /^ERR_/.test(document.querySelector('#error')?.textContent ?? ''));
    server = await startServerProcess(serverArgs(), server.port);
    await control(server, `change?channel=${APP_CHANNELS.notes}`, { set: { n: 2 } });

    await page.waitForFunction(
      (from) => {
        const states = window.statesocketReact?.history().slice(from) ?? [];
        const errored = states.indexOf('errored');
        const connecting = states.indexOf('connecting', errored);
        return errored !== -1 && connecting !== -1 && states.indexOf('open', connecting) !== -1;
      },
      before,
    );
    const states = (await history(page)).slice(before);
    expect(inOrder(states, ['errored', 'connecting', 'open']), states.join(' → ')).toBe(true);
    await page.waitForFunction(() => document.querySelector('#status')?.getAttribute('data-state') === 'open');
    await expectTableToEqualServer(page, server);
    expect((await table(page)).n?.value).toBe('2');
  });

  it('shows an edit made while the server is down as pending and applies it once', async () => {
    const page = await openPage('ann');
    await kill(server);
    await waitForState(page, 'errored');
    await edit(page, 'offline-note', 'written while down');

    await page.waitForFunction(() => document.querySelector('#rows tr[data-key="offline-note"]')?.getAttribute('data-state') === 'pending');
    expect((await table(page))['offline-note']).toEqual({ value: 'written while down', sync: 'pending', state: 'pending' });
    expect(await page.textContent('#message')).toBe('saved offline-note; pending until the connection is back');

    server = await startServerProcess(serverArgs(), server.port);
    await page.waitForFunction(() => {
      const row = document.querySelector('#rows tr[data-key="offline-note"]');
      return row !== null && !row.hasAttribute('data-state');
    });
    expect((await table(page))['offline-note']).toEqual({ value: 'written while down', sync: '', state: null });
    const applied = await notesState(server);
    expect([applied.data['offline-note'], applied.counters.opsApplied]).toEqual(['written while down', 1]);

    // another reconnect re-sends nothing: the op was acknowledged
    const opens = (await history(page)).filter((state) => state === 'open').length;
    await control(server, 'drop');
    await page.waitForFunction((count) => (window.statesocketReact?.history().filter((s) => s === 'open').length ?? 0) > count, opens);
    const after = await notesState(server);
    expect([after.counters.opsApplied, after.counters.opsDuplicate]).toEqual([1, 0]);
    await expectTableToEqualServer(page, server);
  });

  it(`commits the price table at most once per animation frame (plus one) under a flood of ${FLOOD_PER_SECOND.toLocaleString('en')} messages a second`, async () => {
    await restart(['--feed-rate', String(FLOOD_PER_SECOND), '--feed-channel', APP_CHANNELS.prices]);
    const page = await openPage('ann');
    await page.waitForFunction(() => document.querySelectorAll('#prices-rows tr').length === 6);

    const start = await page.evaluate(() => {
      const app = window.statesocketReact!;
      app.probe.start();
      return { commits: app.probe.commits(), received: app.connection.getStatus().counters.received };
    });
    // a second of the flood, counted by the page itself
    await page.waitForFunction((from) => (window.statesocketReact?.connection.getStatus().counters.received ?? 0) >= from, start.received + FLOOD_PER_SECOND);
    const end = await page.evaluate(() => {
      const app = window.statesocketReact!;
      app.probe.stop();
      return { commits: app.probe.commits(), frames: app.probe.frames(), received: app.connection.getStatus().counters.received };
    });

    const commits = end.commits - start.commits;
    const received = end.received - start.received;
    expect(received).toBeGreaterThanOrEqual(FLOOD_PER_SECOND);
    expect(commits, `${commits} commits of the table for ${received} messages in ${end.frames} frames`).toBeLessThanOrEqual(end.frames + 1);
    expect(commits).toBeGreaterThan(0);
  });

  it('stops its connection when the page goes away for good (pagehide, not persisted), as the DOM app does', async () => {
    const page = await openPage('ann');
    await page.evaluate(() => dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false })));
    await waitForState(page, 'closed');
    // stopped for good: sending now is refused
    const refused = await page.evaluate(() => {
      try {
        window.statesocketReact!.connection.send({ type: 'noop' } as never);
        return null;
      } catch (error) {
        return (error as { code?: string }).code ?? String(error);
      }
    });
    expect(refused).toBe('ERR_STOPPED');
  });
});
