/**
 * Issue 13 in the browser: the app's channels and presence in real Chromium against the demo's
 * server (scripts/demo/server-config.ts: the feed on `prices`, `notes` with presence, `admin/*`
 * refused; a page's token is its member name), running on a free port of 127.0.0.1 and serving
 * the app as `npm start` does. Two pages are two browser contexts, so two members. Every wait is
 * on something the page shows or the server reports, bounded by WAIT_MS. `UPDATE_SCREENSHOTS=1`
 * copies the two-member screenshot to docs/app.png and the reconnecting one to
 * docs/app-reconnecting.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP_CHANNELS } from '../../app/channels.js';
import { FIRST_NOTES, demoServerOptions } from '../../scripts/demo/server-config.js';
import { loadAppFiles, type AppBundle } from '../../src/server/static-files.js';
import { startSyncServer, type RunningServer } from '../../src/server/start.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'browser');
/** A safety net for waits on events, not a sleep. */
const WAIT_MS = 20_000;
/** Shorter than the demo's 5 s so a leave shows sooner; the rule under test is the same. */
const GRACE_MS = 500;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
const pageErrors: string[] = [];
let app: AppBundle;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}. Install it (Debian: apt-get install -y chromium) or point CHROMIUM_PATH at one.`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  app = loadAppFiles();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  expect(pageErrors.splice(0), 'uncaught errors in the page').toEqual([]);
});

async function startDemoServer(): Promise<RunningServer> {
  const server = await startSyncServer({ ...demoServerOptions(20), presenceGraceMs: GRACE_MS, staticHandler: app.staticHandler });
  cleanups.push(() => server.close());
  server.change({ set: { ...FIRST_NOTES } }, APP_CHANNELS.notes);
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  cleanups.push(() => browser.close());
  return server;
}

/** A page in a context of its own (its own member), open with every channel settled. */
async function openPage(server: RunningServer, name: string): Promise<{ page: Page; context: BrowserContext }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  cleanups.push(() => context.close().catch(() => {}));
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`));
  await page.goto(`http://127.0.0.1:${server.port}/?name=${name}`);
  await page.waitForFunction(() => {
    const app = window.statesocketApp;
    return app !== undefined && app.channels.prices.getStatus().live && app.channels.notes.getStatus().live && app.channels.forbidden.getStatus().state === 'failed';
  });
  return { page, context };
}

function waitForMembers(page: Page, wanted: readonly string[]): Promise<unknown> {
  return page.waitForFunction(
    (names) => {
      const shown = [...document.querySelectorAll('#members li')].map((li) => [...li.querySelectorAll('span')].map((span) => span.textContent).filter(Boolean).join(' '));
      return JSON.stringify(shown) === JSON.stringify(names);
    },
    wanted,
  );
}

/** The notes row for `key` once the server applied it (no pending mark): its value cell. */
function waitForNote(page: Page, key: string, value: string): Promise<unknown> {
  return page.waitForFunction(
    ([k, v]) => {
      const row = document.querySelector(`#rows tr[data-key="${CSS.escape(k)}"]`);
      return row !== null && !row.hasAttribute('data-state') && row.querySelector('td:nth-child(2)')?.textContent === v;
    },
    [key, value] as const,
  );
}

describe('browser app: channels', () => {
  it('shows two pages each other joining and leaving, in join order, each marking itself', async () => {
    const server = await startDemoServer();
    const ann = await openPage(server, 'ann');
    await waitForMembers(ann.page, ['ann you']);
    expect(await ann.page.textContent('#here')).toBe('1 here');

    const bob = await openPage(server, 'bob');
    await waitForMembers(ann.page, ['ann you', 'bob']);
    await waitForMembers(bob.page, ['ann', 'bob you']);
    expect(await ann.page.textContent('#here')).toBe('2 here');
    expect(await bob.page.textContent('#me')).toBe('you are bob');

    // Bob's page goes away: his connection closes, and after the grace period he leaves Ann's list.
    await bob.context.close();
    await waitForMembers(ann.page, ['ann you']);
    const state = (await (
      await fetch(`http://127.0.0.1:${server.port}/control/state?channel=${APP_CHANNELS.notes}`, { headers: { authorization: `Bearer ${server.controlToken}` } })
    ).json()) as { members: Array<{ user: string }> };
    expect(state.members.map((member) => member.user)).toEqual(['ann']);
  });

  it('shows an edit made on one page on the other, applied once', async () => {
    const server = await startDemoServer();
    const ann = await openPage(server, 'ann');
    const bob = await openPage(server, 'bob');
    await waitForNote(bob.page, 'welcome', FIRST_NOTES.welcome);
    const applied = server.stats().opsApplied;

    await ann.page.fill('#key', 'todo');
    await ann.page.fill('#value', 'buy milk');
    await ann.page.click('#editor button[type=submit]');

    await waitForNote(bob.page, 'todo', 'buy milk');
    await waitForNote(ann.page, 'todo', 'buy milk');
    expect(server.core.channelState(APP_CHANNELS.notes).data.todo).toBe('buy milk');
    expect(server.stats().opsApplied - applied).toBe(1);

    // docs/app.png: both members, a shared note and the whole feed (refreshed on request only, so a run leaves the tree clean)
    await ann.page.waitForFunction(() => document.querySelectorAll('#prices-rows tr').length === 6);
    await ann.page.screenshot({ path: join(ARTIFACTS, 'app-channels.png') });
    if (process.env.UPDATE_SCREENSHOTS === '1') await copyFile(join(ARTIFACTS, 'app-channels.png'), 'docs/app.png');

    // and back: Bob deletes it, Ann's row goes
    await bob.page.click('#rows tr[data-key="todo"] button[data-action="delete"]');
    await ann.page.waitForFunction(() => document.querySelector('#rows tr[data-key="todo"]') === null);
  });

  it('shows the forbidden channel failed with its error while prices and notes stay live, across a reconnect', async () => {
    const server = await startDemoServer();
    const { page } = await openPage(server, 'ann');

    await page.waitForFunction(() => document.querySelector('#forbidden')?.getAttribute('data-state') === 'failed');
    expect(await page.textContent('#forbidden-chip')).toBe('failed');
    expect(await page.textContent('#forbidden-error')).toBe(`ERR_CHANNEL_FORBIDDEN: user "ann" may not subscribe to ${APP_CHANNELS.forbidden}`);
    expect(await page.getAttribute('#prices', 'data-state')).toBe('live');
    expect(await page.getAttribute('#notes', 'data-state')).toBe('live');
    expect(await page.textContent('#state')).toBe('open');

    // prices keep moving after the refusal: the feed's next seq reaches the page
    const seq = server.core.channelState(APP_CHANNELS.prices).seq;
    await page.waitForFunction((after) => (window.statesocketApp?.channels.prices.model.position()?.seq ?? 0) > after, seq);

    // a service restart (1013: the retry waits at least serviceRestartDelayMs): the live channels go stale,
    // an edit made meanwhile waits as pending; then they resubscribe and are live again, the edit is applied
    // once, and the refused channel stays failed, alone
    const resubscribes = await page.evaluate(() => window.statesocketApp?.channels.prices.getStatus().resubscribes ?? 0);
    const applied = server.stats().opsApplied;
    await fetch(`http://127.0.0.1:${server.port}/control/close?code=1013&reason=deploy`, { method: 'POST', headers: { authorization: `Bearer ${server.controlToken}` } });
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'errored' && document.querySelector('#prices')?.getAttribute('data-state') === 'stale');
    await page.fill('#key', 'while-away');
    await page.fill('#value', 'sent after the reconnect');
    await page.click('#editor button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#rows tr[data-key="while-away"]')?.getAttribute('data-state') === 'pending');
    expect(await page.getAttribute('#notes', 'data-state')).toBe('stale');
    await page.screenshot({ path: join(ARTIFACTS, 'app-channels-reconnecting.png') });
    if (process.env.UPDATE_SCREENSHOTS === '1') await copyFile(join(ARTIFACTS, 'app-channels-reconnecting.png'), 'docs/app-reconnecting.png');

    await page.waitForFunction((before) => {
      const channels = window.statesocketApp?.channels;
      return channels !== undefined && channels.prices.getStatus().resubscribes > before && channels.prices.getStatus().live && channels.notes.getStatus().live;
    }, resubscribes);
    await page.waitForFunction(() => document.querySelector('#prices')?.getAttribute('data-state') === 'live' && document.querySelector('#notes')?.getAttribute('data-state') === 'live');
    await waitForNote(page, 'while-away', 'sent after the reconnect');
    expect(server.stats().opsApplied - applied).toBe(1);
    expect(await page.getAttribute('#forbidden', 'data-state')).toBe('failed');
    expect(await page.textContent('#forbidden-error')).toMatch(/^ERR_CHANNEL_FORBIDDEN: /);
  });
});
