/**
 * The browser app: the server's live data as a table that follows it in real
 * time, a form to add, edit and delete items, and the connection's status.
 * MVC on `createConnection`:
 *
 * - Model: the sync store (`createStore()`), changed only by the server's snapshots and patches.
 * - View: `domView` (src/views/dom.ts), painted at most once per animation frame.
 * - Controller: `bindController` (./controller.ts), user actions → connection calls.
 *
 * Served by `scripts/server.ts` at `/` (see src/server/static-files.ts). With
 * `?inspect=ws://127.0.0.1:8090/inspect` the machine is streamed to the inspector relay
 * (only one on a loopback name or the page's own host: see ./inspect-url.ts).
 * `window.statesocketApp` exposes the connection to tests and the console (read only).
 */
import type { OutboxEntry } from '../machines/connection.types.js';
import type { Connection } from '../src/connection.js';
import { createConnection } from '../src/index.js';
import type { InspectorLike } from '../src/options.js';
import { animationFrameScheduler } from '../src/scheduler.js';
import { createStore, type StoreData } from '../src/store.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import type { StateName } from '../src/types.js';
import { domView, type DomView } from '../src/views/dom.js';
import { bindController, ROW_ACTIONS } from './controller.js';
import { frameLoop } from './frame.js';
import { judgeRelayUrl } from './inspect-url.js';
import {
  attemptText,
  canRetry,
  countdownText,
  countersText,
  errorText,
  pendingChanges,
  stateText,
  tableRows,
  toggleLabel,
  type PendingChange,
} from './present.js';

/** What the page exposes as `window.statesocketApp`. */
export interface StatesocketApp {
  readonly connection: Connection;
  /** The states the connection entered, oldest first. */
  history(): StateName[];
  /** Paints of the table and status so far (at most one per animation frame). */
  renders(): number;
}

declare global {
  interface Window {
    readonly statesocketApp?: StatesocketApp;
  }
}

/** How often the countdown is redrawn while a reconnect waits, in milliseconds. */
const COUNTDOWN_TICK_MS = 100;

function element<T extends Element>(selector: string, type: new () => T): T {
  const found = document.querySelector(selector);
  if (!(found instanceof type)) throw new Error(`app: the page has no ${type.name} matching ${selector}`);
  return found;
}

/**
 * The relay inspector for `?inspect=ws://…`, loaded only when asked for (a separate chunk).
 * Only a relay on this machine or on the page's own host (`judgeRelayUrl`): anything else
 * is refused with a notice and never connected to.
 */
async function inspectorFor(url: string | null, say: (message: string) => void): Promise<InspectorLike | undefined> {
  if (url === null || url === '') return undefined;
  const verdict = judgeRelayUrl(url, location.hostname);
  if (!verdict.ok) {
    say(verdict.reason);
    return undefined;
  }
  const { createRelayInspector } = await import('../src/inspect/relay-inspector.js');
  return createRelayInspector({ url: verdict.url, warn: say });
}

async function main(): Promise<void> {
  const elements = {
    form: element('#editor', HTMLFormElement),
    key: element('#key', HTMLInputElement),
    value: element('#value', HTMLInputElement),
    remove: element('#delete', HTMLButtonElement),
    rows: element('#rows', HTMLTableSectionElement),
    retry: element('#retry', HTMLButtonElement),
    toggle: element('#toggle', HTMLButtonElement),
  };
  const message = element('#message', HTMLElement);
  const say = (text: string) => {
    message.textContent = text; // textContent never parses markup
  };

  const inspectUrl = new URLSearchParams(location.search).get('inspect');
  const inspector = await inspectorFor(inspectUrl, say);
  if (inspector !== undefined) element('#inspecting', HTMLElement).textContent = `inspecting → ${inspectUrl}`;

  const model = createStore();
  // Assigned before start(): nothing below runs before then.
  let connection!: Connection;

  let lastOutbox: readonly OutboxEntry[] | null = null;
  let pending: Map<string, PendingChange> = new Map();
  /** The unacknowledged edits, recomputed only when the outbox changed. */
  const pendingNow = () => {
    const outbox = connection.actor.getSnapshot().context.outbox;
    if (outbox !== lastOutbox) {
      lastOutbox = outbox;
      pending = pendingChanges(outbox);
    }
    return pending;
  };

  const view: DomView<StoreData> = domView<StoreData>({
    rows: elements.rows,
    toRows: (data) => tableRows(data, pendingNow()),
    rowActions: ROW_ACTIONS,
    badge: element('#status', HTMLElement),
    fields: [
      { element: element('#state', HTMLElement), text: stateText },
      { element: element('#attempt', HTMLElement), text: attemptText },
      { element: element('#countdown', HTMLElement), text: countdownText },
      { element: element('#error', HTMLElement), text: errorText },
      { element: element('#counters', HTMLElement), text: (status) => countersText(status, view.renders) },
      { element: elements.toggle, text: toggleLabel },
    ],
  });

  let wanted = false;
  let tick: ReturnType<typeof setTimeout> | undefined;
  /** One paint: the View with the Model's data and the status, then the controls' enabled state. */
  const paint = () => {
    wanted = false;
    const status = connection.getStatus();
    view.render(model.getData(), status);
    elements.retry.disabled = !canRetry(status);
    if (status.nextRetryAt !== null && tick === undefined) {
      tick = setTimeout(() => {
        tick = undefined;
        request();
      }, COUNTDOWN_TICK_MS);
    }
  };
  const frames = frameLoop(animationFrameScheduler(), () => {
    if (wanted) paint();
  });
  const request = () => {
    wanted = true;
    frames.request();
  };

  connection = createConnection({
    url: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/`,
    protocol: createSyncProtocol(),
    model,
    view: { render: paint },
    schedule: frames.schedule,
    reconnect: { initialDelayMs: 500, maxDelayMs: 5_000 },
    heartbeat: { intervalMs: 10_000, timeoutMs: 5_000 },
    autoStart: false,
    ...(inspector === undefined ? {} : { inspect: inspector }),
  });
  // Status-only changes (an edit queued or acknowledged, online/offline while waiting) schedule no render in the chart.
  connection.subscribe(request);
  bindController(elements, connection, say);
  addEventListener('pagehide', (event) => {
    // a page going away for good closes with 1000; one entering the back-forward cache is handled by the library
    if (!event.persisted) connection.stop();
  });

  const app: StatesocketApp = Object.freeze({
    connection,
    history: () => connection.history.map((entry) => entry.state),
    renders: () => view.renders,
  });
  Object.defineProperty(window, 'statesocketApp', { value: app, writable: false, configurable: false, enumerable: true });

  connection.start();
  request();
}

main().catch((error: unknown) => {
  const message = document.querySelector('#message');
  if (message !== null) message.textContent = `The app failed to start: ${(error as Error).message}`;
  throw error;
});
