/**
 * The browser app (app/) in real Chromium, driven by playwright-core, against
 * the real server process (scripts/server.ts, which serves the app at `/`).
 * The app holds its channels on one version 2 connection; these tests drive the
 * `notes` channel (the table and the form) and the `prices` feed, on a server
 * without users (test/browser/channels.test.ts runs the demo's server, with
 * presence and a forbidden channel).
 * Every test starts its own server on a free port on 127.0.0.1 and its own
 * browser, and closes both in afterEach.
 *
 * Chromium: CHROMIUM_PATH, default /usr/bin/chromium (`apt-get install -y chromium` on Debian).
 * Screenshots of the normal and the reconnecting state go to test-artifacts/browser/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { StateName } from '../../src/types.js';
import { loadAppFiles, type AppBundle } from '../../src/server/static-files.js';
import { startSyncServer, type RunningServer } from '../../src/server/start.js';
import {
  control,
  type Controllable,
  eventually,
  kill,
  killAll,
  startServerProcess,
  type ServerProcess,
} from '../integration/server-process.js';
import { APP_CHANNELS } from '../../app/channels.js';
import { asShown, edit, expectTableToEqualServer, inOrder, notesState as serverState, sameRows, table } from './app-page.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'browser');
/** The channel the table and the form show (app/channels.ts). */
const NOTES = APP_CHANNELS.notes;
/** A safety net for waits on events, not a sleep. */
const WAIT_MS = 20_000;

// ── cleanup registry ────────────────────────────────────────────────────────
const cleanups: Array<() => Promise<unknown> | unknown> = [];
const pageErrors: string[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await killAll();
  const errors = pageErrors.splice(0);
  expect(errors, 'uncaught errors in the page').toEqual([]);
});

beforeAll(() => {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}. Install it (Debian: apt-get install -y chromium) ` +
        'or point CHROMIUM_PATH at a Chromium or Chrome executable.',
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
});

// ── helpers ─────────────────────────────────────────────────────────────────
async function launch(extraArgs: readonly string[] = []): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs] });
  cleanups.push(() => browser.close());
  return browser;
}

/** Opens the app from `port` in a fresh browser; resolves once the page's connection is open. */
async function openApp(
  port: number,
  query = '',
  extraArgs: readonly string[] = [],
): Promise<{ page: Page; dialogs: string[]; setOffline(offline: boolean): Promise<void> }> {
  const browser = await launch(extraArgs);
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`http://127.0.0.1:${port}/${query}`);
  await waitForState(page, 'open');
  return { page, dialogs, setOffline: (offline) => context.setOffline(offline) };
}

function waitForState(page: Page, state: StateName): Promise<unknown> {
  return page.waitForFunction((wanted) => window.statesocketApp?.connection.getStatus().state === wanted, state);
}

/** A control change on the notes channel. */
function changeNotes(server: Controllable, changes: object): Promise<Response> {
  return control(server, `change?channel=${NOTES}`, changes);
}

function history(page: Page): Promise<StateName[]> {
  return page.evaluate(() => window.statesocketApp?.history() ?? []);
}

function waitForText(page: Page, selector: string, text: string): Promise<unknown> {
  return page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent === t, [selector, text] as const);
}

async function startServerWithDataFile(args: string[] = [], port = 0): Promise<{ server: ServerProcess; dataFile: string; args: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-app-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const dataFile = join(dir, 'data.json');
  const all = ['--data-file', dataFile, ...args];
  return { server: await startServerProcess(all, port), dataFile, args: all };
}

// ── the app ─────────────────────────────────────────────────────────────────
describe('browser app', () => {
  describe('live table', () => {
    it('renders the initial snapshot', async () => {
      const server = await startServerProcess();
      await changeNotes(server, { set: { alpha: 'one', beta: 2, gamma: { nested: true } } });

      const { page } = await openApp(server.port);

      await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 3);
      expect(await table(page)).toEqual(asShown({ alpha: 'one', beta: 2, gamma: { nested: true } }));
      await waitForText(page, '#state', 'open');
      await page.screenshot({ path: join(ARTIFACTS, 'app-normal.png') });
    });

    it('shows feed updates as they arrive, in the same row element', async () => {
      const server = await startServerProcess(['--feed-rate', '20', '--feed-channel', APP_CHANNELS.prices]);
      const { page } = await openApp(server.port);
      await page.waitForFunction(() => document.querySelector('#prices-rows tr[data-key]') !== null);
      const key = await page.evaluate(() => document.querySelector('#prices-rows tr[data-key]')?.getAttribute('data-key') ?? '');
      const before = await page.evaluate((k) => document.querySelector(`#prices-rows tr[data-key="${CSS.escape(k)}"] td:nth-child(2)`)?.textContent, key);
      const row = await page.evaluateHandle((k) => document.querySelector(`#prices-rows tr[data-key="${CSS.escape(k)}"]`), key);

      await page.waitForFunction(
        ([k, old]) => {
          const cell = document.querySelector(`#prices-rows tr[data-key="${CSS.escape(k)}"] td:nth-child(2)`);
          return cell !== null && cell.textContent !== old;
        },
        [key, before ?? ''] as const,
      );

      // the row was updated in place, not rebuilt
      expect(await row.evaluate((element) => element?.isConnected)).toBe(true);
    });
  });

  describe('reconnecting', () => {
    it('goes errored → connecting → open after the server is killed and restarted, then shows its data', async () => {
      const { server, args } = await startServerWithDataFile();
      await changeNotes(server, { set: { kept: 'across the restart', n: 1 } });
      const { page } = await openApp(server.port);
      const before = (await history(page)).length;

      await kill(server);
      await waitForState(page, 'errored');
      await page.screenshot({ path: join(ARTIFACTS, 'app-reconnecting.png') });
      const restarted = await startServerProcess(args, server.port);
      await changeNotes(restarted, { set: { n: 2 } });

      await page.waitForFunction(
        (from) => {
          const states = window.statesocketApp?.history().slice(from) ?? [];
          const errored = states.indexOf('errored');
          const connecting = states.indexOf('connecting', errored);
          return errored !== -1 && connecting !== -1 && states.indexOf('open', connecting) !== -1;
        },
        before,
        { timeout: WAIT_MS },
      );
      const states = (await history(page)).slice(before);
      expect(inOrder(states, ['errored', 'connecting', 'open']), states.join(' → ')).toBe(true);
      await waitForState(page, 'open');
      await expectTableToEqualServer(page, restarted);
      expect((await table(page)).n?.value).toBe('2');
    });

    it('shows an edit made while the server is down as pending and applies it exactly once after reconnecting', async () => {
      const { server, args } = await startServerWithDataFile();
      const { page } = await openApp(server.port);

      await kill(server);
      await waitForState(page, 'errored');
      await edit(page, 'offline-note', 'written while down');

      await page.waitForFunction(() => document.querySelector('#rows tr[data-key="offline-note"]')?.getAttribute('data-state') === 'pending');
      expect((await table(page))['offline-note']).toEqual({ value: 'written while down', sync: 'pending', state: 'pending' });
      const waiting = await page.evaluate(
        () => window.statesocketApp?.connection.getOutbox().filter((entry) => entry.ackId !== undefined).length,
      );
      expect(waiting).toBe(1);

      const restarted = await startServerProcess(args, server.port);
      await page.waitForFunction(() => {
        const row = document.querySelector('#rows tr[data-key="offline-note"]');
        return row !== null && !row.hasAttribute('data-state');
      });
      expect((await table(page))['offline-note']).toEqual({ value: 'written while down', sync: '', state: null });
      const applied = await serverState(restarted);
      expect(applied.data['offline-note']).toBe('written while down');
      expect(applied.counters.opsApplied).toBe(1);

      // another reconnect re-sends nothing: the op was acknowledged
      const opens = (await history(page)).filter((state) => state === 'open').length;
      await control(restarted, 'drop');
      await page.waitForFunction((count) => (window.statesocketApp?.history().filter((s) => s === 'open').length ?? 0) > count, opens);
      const after = await serverState(restarted);
      expect([after.counters.opsApplied, after.counters.opsDuplicate]).toEqual([1, 0]);
      await expectTableToEqualServer(page, restarted);
    });

    it('parks on the offline event and reconnects at once on the online event', async () => {
      const server = await startServerProcess();
      const { page, setOffline } = await openApp(server.port);

      await setOffline(true);
      await page.waitForFunction(() => window.statesocketApp?.connection.actor.getSnapshot().matches({ errored: 'offline' }) === true);
      const parked = await page.evaluate(() => window.statesocketApp?.connection.getStatus());
      expect([parked?.state, parked?.online, parked?.nextRetryAt, parked?.lastError?.code]).toEqual(['errored', false, null, 'ERR_OFFLINE']);
      await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'errored · offline');

      await setOffline(false);
      await waitForState(page, 'open');
      // straight from the online event to connecting: no backoff wait in between
      const recent = await page.evaluate(() => window.statesocketApp?.connection.history.slice(-3).map(({ state, event }) => ({ state, event })));
      expect(recent).toEqual([
        { state: 'errored', event: 'network.offline' },
        { state: 'connecting', event: 'network.online' },
        { state: 'open', event: 'socket.opened' },
      ]);
    });
  });

  describe('markup in data', () => {
    it('shows a value like <img src=x onerror=alert(1)> as text and runs nothing', async () => {
      const server = await startServerProcess();
      await changeNotes(server, { set: { '<b>from the server</b>': '<script>alert(2)</script>' } });
      const { page, dialogs } = await openApp(server.port);

      await edit(page, 'xss', '<img src=x onerror=alert(1)>');
      await page.waitForFunction(() => {
        const row = document.querySelector('#rows tr[data-key="xss"]');
        return row !== null && !row.hasAttribute('data-state');
      });

      const rows = await table(page);
      expect(rows.xss?.value).toBe('<img src=x onerror=alert(1)>');
      expect(rows['<b>from the server</b>']?.value).toBe('<script>alert(2)</script>');
      expect(await page.locator('#rows img, #rows b, #rows script').count()).toBe(0);
      expect((await serverState(server)).data.xss).toBe('<img src=x onerror=alert(1)>');
      expect(dialogs).toEqual([]);
    });
  });

  describe('controls', () => {
    it('disconnects and connects with the toggle, and Retry now skips the wait', async () => {
      const server = await startServerProcess();
      const { page } = await openApp(server.port);

      await page.click('#toggle');
      await waitForState(page, 'closed');
      await waitForText(page, '#toggle', 'Connect');
      await page.click('#toggle');
      await waitForState(page, 'open');
      await waitForText(page, '#toggle', 'Disconnect');

      // a 1013 close makes the next attempt wait at least serviceRestartDelayMs (5 s): Retry now skips it
      await control(server, 'close?code=1013&reason=later');
      await waitForState(page, 'errored');
      await page.waitForFunction(() => document.querySelector('#countdown')?.textContent?.startsWith('retry in') === true);
      await page.click('#retry');
      await waitForState(page, 'open');
      const last = await page.evaluate(() => window.statesocketApp?.connection.history.slice(-2).map(({ state, event }) => ({ state, event })));
      expect(last).toEqual([
        { state: 'connecting', event: 'client.retry' },
        { state: 'open', event: 'socket.opened' },
      ]);
    });
  });

  describe('inspector flag', () => {
    it('streams the machine to the relay given in ?inspect=', async () => {
      const server = await startServerProcess();
      const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      cleanups.push(() => new Promise((resolve) => relay.close(resolve)));
      await new Promise((resolve) => relay.once('listening', resolve));
      const received: Array<{ type: string; event?: { type?: string } }> = [];
      relay.on('connection', (socket) => socket.on('message', (data) => received.push(JSON.parse(String(data)))));
      const relayUrl = `ws://127.0.0.1:${(relay.address() as { port: number }).port}/inspect`;

      const { page } = await openApp(server.port, `?inspect=${encodeURIComponent(relayUrl)}`);

      await eventually(
        async () => received,
        (messages) => messages.some((m) => m.type === '@xstate.event' && m.event?.type === 'socket.opened'),
        'a socket.opened event at the relay',
      );
      expect(received.some((m) => m.type === '@xstate.actor')).toBe(true);
      // every channel's subscription actor is streamed next to the connection (issue 13)
      await eventually(
        async () => received.filter((m) => m.type === '@xstate.actor').map((m) => (m as { name?: string }).name),
        (names) => Object.values(APP_CHANNELS).every((channel) => names.includes(`channel:${channel}`)),
        'an @xstate.actor for each channel:NAME',
      );
      expect(received.some((m) => m.type === '@xstate.snapshot')).toBe(true);
      expect(await page.textContent('#inspecting')).toBe(`inspecting → ${relayUrl}`);
    });

    it('refuses a relay on a foreign host with a notice, and its page policy blocks one even when asked directly', async () => {
      // evil.example resolves to a relay on 127.0.0.1 inside this browser only (hostile review a19).
      const server = await startServerProcess();
      const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      cleanups.push(() => new Promise((resolve) => relay.close(resolve)));
      await new Promise((resolve) => relay.once('listening', resolve));
      const relayPort = (relay.address() as { port: number }).port;
      const connections: string[] = [];
      relay.on('connection', (_socket, req) => connections.push(req.headers.host ?? '?'));
      const foreign = `ws://evil.example:${relayPort}/steal`;

      const { page } = await openApp(server.port, `?inspect=${encodeURIComponent(foreign)}`, [
        '--host-resolver-rules=MAP evil.example 127.0.0.1',
      ]);
      await page.waitForFunction(() => /Inspection is off/.test(document.querySelector('#message')?.textContent ?? ''));
      expect(await page.textContent('#message')).toContain(`may only name a relay on this machine (localhost, 127.0.0.1) or on the page's own host name; received "${foreign}"`);
      expect(await page.textContent('#inspecting')).toBe('');

      // The second line: the page's connect-src refuses the foreign host and admits loopback.
      const attempt = (url: string) =>
        page.evaluate(
          (target) =>
            new Promise<string>((resolve) => {
              const onViolation = (event: SecurityPolicyViolationEvent) => {
                if (event.blockedURI.startsWith(target.slice(0, -1))) resolve(`blocked by ${event.effectiveDirective}`);
              };
              document.addEventListener('securitypolicyviolation', onViolation);
              const socket = new WebSocket(target);
              socket.onopen = () => {
                socket.close();
                resolve('open');
              };
            }),
          url,
        );
      expect(await attempt(`ws://evil.example:${relayPort}/`)).toBe('blocked by connect-src');
      expect(await attempt(`ws://localhost:${relayPort}/`)).toBe('open');
      expect(connections).toEqual([`localhost:${relayPort}`]);
    });
  });
});

// ── render coalescing: an in-process server, so the test can flood it directly ──
describe('render coalescing', () => {
  let app: AppBundle;

  beforeAll(async () => {
    app = loadAppFiles();
  });

  it('paints a flood of 10,000 updates in one second in far fewer renders, and ends with the right table', async () => {
    const running: RunningServer = await startSyncServer({ control: true, host: '127.0.0.1', port: 0, staticHandler: app.staticHandler });
    cleanups.push(() => running.close());
    const { page } = await openApp(running.port);
    const KEYS = 100;
    const TOTAL = 10_000;
    const TICKS = 20;

    const received0 = await page.evaluate(() => window.statesocketApp?.connection.getStatus().counters.received ?? 0);
    const renders0 = await page.evaluate(() => window.statesocketApp?.renders() ?? 0);
    for (let tick = 0; tick < TICKS; tick++) {
      for (let i = 0; i < TOTAL / TICKS; i++) {
        const n = tick * (TOTAL / TICKS) + i;
        running.core.change({ set: { [`k${String(n % KEYS).padStart(3, '0')}`]: n } }, NOTES);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 / TICKS));
    }

    await page.waitForFunction((seq) => {
      const position = window.statesocketApp?.channels.notes.model.position();
      return position?.seq === seq;
    }, running.core.channelState(NOTES).seq);
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 100);
    const received = (await page.evaluate(() => window.statesocketApp?.connection.getStatus().counters.received ?? 0)) - received0;
    const renders = (await page.evaluate(() => window.statesocketApp?.renders() ?? 0)) - renders0;

    expect(received).toBeGreaterThanOrEqual(TOTAL);
    expect(renders, `${renders} renders for ${received} messages`).toBeLessThan(received / 10);
    await eventually(
      () => table(page),
      (rows) => sameRows(rows, asShown(running.core.channelState(NOTES).data)),
      'the table equal to the server after the flood',
    );
  });
});
