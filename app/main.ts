/**
 * The browser app: one connection (protocol version 2, `createChannelProtocol()`) holding three
 * channels, each with its own Model, status and error, and the connection's status above them:
 *
 * - `prices`: the server's feed as a table that follows it in real time (read only);
 * - `notes`: key/values anyone can edit (a form, row actions, pending edits), with presence:
 *   "Who is here" lists the channel's members, one per page;
 * - `admin/audit`: a channel the demo's users may not read, showing its `ERR_CHANNEL_FORBIDDEN`
 *   while the others stay live.
 *
 * MVC on `createConnection`:
 * - Models: one store per channel (`createStore()`) and the notes' presence, changed only by the server's frames.
 * - Views: `domView` (src/views/dom.ts) per table and list, all painted in one pass at most once per animation frame.
 * - Controller: `bindController` (./controller.ts), user actions → connection and channel calls.
 *
 * The page's member name is `?name=` or a `guest-NNNN` of its own; it is the token `npm start`'s
 * server takes (scripts/demo/server-config.ts). Served by `scripts/server.ts` at `/` (see
 * src/server/static-files.ts). With `?inspect=ws://127.0.0.1:8090/inspect` the machine and its
 * subscription actors are streamed to the inspector relay (only one on a loopback name or the
 * page's own host: see ./inspect-url.ts). `window.statesocketApp` exposes the connection and the
 * channels to tests and the console (read only).
 */
import type { OutboxEntry } from '../machines/connection.types.js';
import type { Channel } from '../src/channel.js';
import type { Connection } from '../src/connection.js';
import { createChannelProtocol, createConnection } from '../src/index.js';
import type { InspectorLike } from '../src/options.js';
import { animationFrameScheduler } from '../src/scheduler.js';
import type { StoreData } from '../src/store.js';
import type { StateName } from '../src/types.js';
import { domView, storeRows, type DomView } from '../src/views/dom.js';
import { APP_CHANNELS, memberName } from './channels.js';
import { bindController, ROW_ACTIONS } from './controller.js';
import { frameLoop } from './frame.js';
import { judgeRelayUrl } from './inspect-url.js';
import {
  attemptText,
  canRetry,
  channelChip,
  channelErrorText,
  countdownText,
  countersText,
  errorText,
  hereText,
  memberRows,
  pendingChanges,
  stateText,
  tableRows,
  toggleLabel,
  type PendingChange,
} from './present.js';

/** What the page exposes as `window.statesocketApp`. */
export interface StatesocketApp {
  readonly connection: Connection;
  /** The channels the page holds, by role. */
  readonly channels: { readonly prices: Channel; readonly notes: Channel; readonly forbidden: Channel };
  /** This page's member name (its token) and client id. */
  readonly name: string;
  readonly clientId: string;
  /** The states the connection entered, oldest first. */
  history(): StateName[];
  /** Paints of the page so far (at most one per animation frame). */
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

/** A client id for this page: its name and 16 random bytes (so "you" is this page, not every page with the name). */
function newClientId(name: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `${name}.${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** A channel panel's chip and `data-state`, set only when they change. */
function paintChip(panel: HTMLElement, chip: HTMLElement, status: ReturnType<Channel['getStatus']>): void {
  const { look, text } = channelChip(status);
  if (panel.dataset.state !== look) panel.dataset.state = look;
  if (chip.textContent !== text) chip.textContent = text;
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
  const panels = {
    prices: { panel: element('#prices', HTMLElement), chip: element('#prices-chip', HTMLElement) },
    notes: { panel: element('#notes', HTMLElement), chip: element('#notes-chip', HTMLElement) },
    forbidden: { panel: element('#forbidden', HTMLElement), chip: element('#forbidden-chip', HTMLElement) },
  };
  element('#prices-title', HTMLElement).textContent = APP_CHANNELS.prices;
  element('#notes-title', HTMLElement).textContent = APP_CHANNELS.notes;
  element('#forbidden-title', HTMLElement).textContent = APP_CHANNELS.forbidden;
  const forbiddenError = element('#forbidden-error', HTMLElement);
  const here = element('#here', HTMLElement);
  const message = element('#message', HTMLElement);
  const say = (text: string) => {
    message.textContent = text; // textContent never parses markup
  };

  const query = new URLSearchParams(location.search);
  const name = memberName(query.get('name'), Math.random);
  const clientId = newClientId(name);
  element('#me', HTMLElement).textContent = `you are ${name}`;

  const inspectUrl = query.get('inspect');
  const inspector = await inspectorFor(inspectUrl, say);
  if (inspector !== undefined) element('#inspecting', HTMLElement).textContent = `inspecting → ${inspectUrl}`;

  // Assigned before start(): nothing below runs before then.
  let connection!: Connection;
  let channels!: StatesocketApp['channels'];

  let lastOutbox: readonly OutboxEntry[] | null = null;
  let pending: Map<string, PendingChange> = new Map();
  /** The notes' unacknowledged edits, recomputed only when the outbox changed. */
  const pendingNow = () => {
    const outbox = connection.getOutbox();
    if (outbox !== lastOutbox) {
      lastOutbox = outbox;
      pending = pendingChanges(outbox, APP_CHANNELS.notes);
    }
    return pending;
  };

  let members: ReturnType<NonNullable<Channel['presence']>['getData']> = [];
  const notesView: DomView<StoreData> = domView<StoreData>({
    rows: elements.rows,
    toRows: (data) => tableRows(data, pendingNow()),
    rowActions: ROW_ACTIONS,
    badge: element('#status', HTMLElement),
    fields: [
      { element: element('#state', HTMLElement), text: stateText },
      { element: element('#attempt', HTMLElement), text: attemptText },
      { element: element('#countdown', HTMLElement), text: countdownText },
      { element: element('#error', HTMLElement), text: errorText },
      { element: element('#counters', HTMLElement), text: (status) => countersText(status, renders) },
      { element: elements.toggle, text: toggleLabel },
    ],
  });
  const pricesView = domView<StoreData>({ rows: element('#prices-rows', HTMLTableSectionElement), toRows: storeRows });
  const membersView = domView<null>({ rows: element('#members', HTMLUListElement), rowTag: 'li', cellTag: 'span', toRows: () => memberRows(members, clientId) });

  let renders = 0;
  let wanted = false;
  let tick: ReturnType<typeof setTimeout> | undefined;
  /** One paint: every channel's View with its Model's data, the connection's status, the controls' enabled state. */
  const paint = () => {
    wanted = false;
    renders++;
    const status = connection.getStatus();
    pricesView.render(channels.prices.model.getData(), status);
    notesView.render(channels.notes.model.getData(), status);
    members = channels.notes.presence?.getData() ?? [];
    membersView.render(null, status);
    if (here.textContent !== hereText(members)) here.textContent = hereText(members);
    paintChip(panels.prices.panel, panels.prices.chip, channels.prices.getStatus());
    paintChip(panels.notes.panel, panels.notes.chip, channels.notes.getStatus());
    paintChip(panels.forbidden.panel, panels.forbidden.chip, channels.forbidden.getStatus());
    const refusal = channelErrorText(channels.forbidden.getStatus());
    if (forbiddenError.textContent !== refusal) forbiddenError.textContent = refusal;
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
  /** A View for the connection and each channel: their renders run in the frame, and ask for the one paint after them. */
  const inFrame = { render: () => void (wanted = true) };

  connection = createConnection({
    url: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/`,
    // The demo server takes the member's name as its token (scripts/demo/server-config.ts).
    protocol: createChannelProtocol({ token: name, clientId, defaultChannel: false }),
    view: inFrame,
    schedule: frames.schedule,
    reconnect: { initialDelayMs: 500, maxDelayMs: 5_000 },
    heartbeat: { intervalMs: 10_000, timeoutMs: 5_000 },
    autoStart: false,
    ...(inspector === undefined ? {} : { inspect: inspector }),
  });
  channels = Object.freeze({
    prices: connection.channel(APP_CHANNELS.prices, { view: inFrame }),
    notes: connection.channel(APP_CHANNELS.notes, { view: inFrame, presence: { view: inFrame } }),
    forbidden: connection.channel(APP_CHANNELS.forbidden, { view: inFrame }),
  });
  // Status-only changes (an edit queued or acknowledged, a channel live or stale) schedule no render in the chart.
  connection.subscribe(request);
  for (const channel of Object.values(channels)) channel.subscribe(request);
  bindController(elements, connection, channels.notes, say);
  addEventListener('pagehide', (event) => {
    // a page going away for good closes with 1000; one entering the back-forward cache is handled by the library
    if (!event.persisted) connection.stop();
  });

  const app: StatesocketApp = Object.freeze({
    connection,
    channels,
    name,
    clientId,
    history: () => connection.history.map((entry) => entry.state),
    renders: () => renders,
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
