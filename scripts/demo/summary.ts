/**
 * The demo's last line: the client's history and counters, and whether its
 * model equals the server's data. Compared only at one seq: a model at seq 79
 * next to data at seq 80 differs by a patch in flight, not by a bug.
 */
import type { Connection } from '../../src/connection.js';
import type { Store, StoreData } from '../../src/store.js';

/** What the summary reads from the server: its position and its data. */
export interface ServerView {
  core: { readonly epoch: string; readonly seq: number; data(): Record<string, unknown> };
}

/** True when the client's model is at the server's current epoch and seq. */
export function caughtUp(connection: Pick<Connection, 'model'>, server: ServerView): boolean {
  const position = connection.model.position();
  return position !== null && position.epoch === server.core.epoch && position.seq === server.core.seq;
}

/**
 * Waits (at most `timeoutMs`) until the client has applied every change the server made. The demo
 * calls it after stopping the feed and the faults, so the summary compares both at one seq.
 */
export function untilCaughtUp(connection: Pick<Connection, 'model'>, server: ServerView, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = setTimeout(finish, timeoutMs);
    const poll = setInterval(() => {
      if (caughtUp(connection, server)) finish();
    }, 20);
    function finish(): void {
      clearTimeout(deadline);
      clearInterval(poll);
      resolve();
    }
    if (caughtUp(connection, server)) finish();
  });
}

export function summaryLine(connection: Pick<Connection, 'model' | 'history' | 'getStatus'>, server: ServerView): string {
  const states = connection.history.map((entry) => entry.state).join(' → ');
  const { received, rejected, sent, renders, reconnects } = connection.getStatus().counters;
  const position = connection.model.position();
  const same = JSON.stringify(sorted(connection.model.getData())) === JSON.stringify(sorted(server.core.data()));
  const comparison = !caughtUp(connection, server)
    ? `model is at seq ${position?.seq ?? '-'}, behind the server's seq ${server.core.seq} (not compared)`
    : `model ${same ? 'equals' : 'DIFFERS FROM'} the server's data at seq ${server.core.seq}`;
  return `summary: ${states} · received ${received}, rejected ${rejected}, sent ${sent}, renders ${renders}, reconnects ${reconnects} · ${comparison}`;
}

function sorted(data: Readonly<Record<string, unknown>>) {
  return Object.fromEntries(Object.entries(data).sort(([a], [b]) => a.localeCompare(b)));
}
