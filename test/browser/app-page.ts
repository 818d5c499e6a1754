/**
 * What the browser app's tests read of a page, for both versions of the app (app/ and app/react/
 * draw the same markup): the notes table as the user sees it, the server's data as the table
 * would show it, and the order of states in a history.
 */
import type { Page } from 'playwright-core';
import { APP_CHANNELS } from '../../app/channels.js';
import { eventually, type Controllable, type ServerState } from '../integration/server-process.js';

/** A notes row as shown: its value, its sync column and its `data-state`. */
export interface Row {
  value: string;
  sync: string;
  state: string | null;
}

/** The notes channel on the server: `GET /control/state?channel=notes`. */
export async function notesState(server: Controllable): Promise<ServerState> {
  const response = await fetch(`http://127.0.0.1:${server.port}/control/state?channel=${APP_CHANNELS.notes}`, {
    headers: { authorization: `Bearer ${server.controlToken ?? ''}` },
  });
  if (!response.ok) throw new Error(`GET /control/state: ${response.status}`);
  return (await response.json()) as ServerState;
}

/** The notes table as the user sees it: key → value, sync column and row state. */
export function table(page: Page): Promise<Record<string, Row>> {
  return page.evaluate(() => {
    const rows: Record<string, { value: string; sync: string; state: string | null }> = {};
    for (const tr of document.querySelectorAll('#rows tr')) {
      const [, value, sync] = [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '');
      rows[tr.getAttribute('data-key') ?? '?'] = { value: value ?? '', sync: sync ?? '', state: tr.getAttribute('data-state') };
    }
    return rows;
  });
}

/** The server's data as the table shows it (strings as they are, other values as JSON). */
export function asShown(data: Record<string, unknown>): Record<string, Row> {
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, { value: typeof value === 'string' ? value : JSON.stringify(value), sync: '', state: null }]),
  );
}

export function sameRows(a: Record<string, Row>, b: Record<string, Row>): boolean {
  const sorted = (rows: Record<string, Row>) => JSON.stringify(Object.entries(rows).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return sorted(a) === sorted(b);
}

/** Waits until the table shows exactly the server's notes (both read again on every try). */
export async function expectTableToEqualServer(page: Page, server: Controllable): Promise<void> {
  await eventually(
    async () => {
      const [rows, state] = await Promise.all([table(page), notesState(server)]);
      return { table: rows, server: asShown(state.data) };
    },
    (both) => sameRows(both.table, both.server),
    "the table equal to the server's data",
  );
}

/** True when `wanted` occurs in `states` in order, not necessarily next to each other. */
export function inOrder(states: readonly string[], wanted: readonly string[]): boolean {
  let next = 0;
  for (const state of states) if (state === wanted[next]) next++;
  return next === wanted.length;
}

/** Fills the notes form and saves. */
export async function edit(page: Page, key: string, value: string): Promise<void> {
  await page.fill('#key', key);
  await page.fill('#value', value);
  await page.click('#editor button[type=submit]');
}
