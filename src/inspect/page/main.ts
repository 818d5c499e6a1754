/**
 * The inspector page: connects to the relay's `/page` socket, feeds every
 * message to the model, and updates the views at most once per animation
 * frame. Served by `relay-server.ts` as an esbuild bundle, next to elkjs'
 * own browser build (`/elk.js`, a classic script that defines `window.ELK`),
 * so it works offline. `window.__inspector` exposes read-only data for tests.
 */
import { activeStateIds } from '../definition-graph.js';
import { ChartView } from './chart-view.js';
import { ContextView } from './context-view.js';
import { byId, h } from './dom.js';
import { InspectorState, type ActorRecord, type LogEntry } from './inspector-state.js';
import { layoutChart, type ChartDirection, type ChartLayout, type ElkLike, type MeasureText } from './layout.js';
import { LogView } from './log-view.js';

const LOG_LIMIT = 500;
const FONT = 'ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif';
const FONTS = { state: `13px ${FONT}`, compound: `600 12px ${FONT}`, edge: `10.5px ${FONT}` } as const;

/** elkjs' browser build, loaded by the page before this module. */
function elkConstructor(): new () => ElkLike {
  const ELK = (globalThis as { ELK?: unknown }).ELK;
  if (typeof ELK !== 'function') throw new Error('inspector page: elkjs did not load (/elk.js)');
  return ELK as new () => ElkLike;
}

/** What `window.__inspector` shows. */
export interface InspectorProbe {
  readonly relay: 'connecting' | 'open' | 'closed';
  readonly messages: number;
  readonly frames: number;
  readonly selected: string | null;
  readonly actors: ReadonlyArray<{ sessionId: string; name: string; source: string; sourceConnected: boolean; status: string }>;
  /** Ids of the states drawn for the selected machine. */
  readonly states: readonly string[];
  /** Ids of the states drawn lit (read from the SVG). */
  readonly highlighted: readonly string[];
  readonly log: readonly LogEntry[];
  readonly context: unknown;
  readonly layoutMs: number | null;
  readonly paused: boolean;
}

declare global {
  interface Window {
    __inspector?: InspectorProbe;
  }
}

const state = new InspectorState({ logLimit: LOG_LIMIT });
const chart = new ChartView(byId('chart'));
const contextView = new ContextView(byId('context'));
const logView = new LogView(byId<HTMLTableSectionElement>('log-body'), byId('log-status'), LOG_LIMIT);
const elk = new (elkConstructor())();
/** `?direction=DOWN` lays the chart out top to bottom instead. */
const direction: ChartDirection = new URLSearchParams(location.search).get('direction')?.toUpperCase() === 'DOWN' ? 'DOWN' : 'RIGHT';

let relayStatus: InspectorProbe['relay'] = 'connecting';
let frames = 0;
let layoutMs: number | null = null;
/** The definition whose layout is drawn or on its way. */
let chartFor: string | null = null;
let layoutToken = 0;
const layouts = new Map<string, ChartLayout>();
let previousActive = new Set<string>();
/** The actor and snapshot version the chart shows lit (empty: none since the last drawing). */
let litKey = '';

// ── text measuring (ELK needs label sizes before it can place anything) ──

const canvas = document.createElement('canvas').getContext('2d');
const measure: MeasureText = (text, role) => {
  if (canvas === null) return text.length * 7;
  canvas.font = FONTS[role];
  return canvas.measureText(text).width;
};

// ── rendering, once per frame ────────────────────────────────────────────

let scheduled = false;
function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(flush);
}

function flush(): void {
  scheduled = false;
  frames++;
  const changes = state.takeChanges();
  const actor = state.selected;
  if (changes.actors) renderActors();
  if (changes.chart) renderChart(actor);
  if (changes.highlight || changes.chart) renderHighlight(actor);
  if (changes.log) logView.update(actor?.sessionId ?? null, actor === null ? [] : state.logOf(actor));
  if (changes.context) contextView.update(actor?.context);
  renderHeader();
}

function renderHeader(): void {
  const relay = byId('relay-status');
  relay.textContent = relayStatus === 'open' ? 'relay connected' : relayStatus === 'connecting' ? 'connecting to relay…' : 'relay unreachable, retrying…';
  relay.className = `pill relay-${relayStatus}`;
  const connected = [...state.sources.values()].filter((source) => source.connected).length;
  byId('counts').textContent = `${connected} source${connected === 1 ? '' : 's'} connected · ${state.messages} messages`;
}

function renderActors(): void {
  const list = byId('actors');
  const actors = state.machineActors();
  if (actors.length === 0) {
    list.replaceChildren(h('li', { class: 'muted' }, 'waiting for an inspected machine… start a client with --inspect'));
    return;
  }
  list.replaceChildren(
    ...actors.map((actor) => {
      const connected = state.sources.get(actor.relaySourceId)?.connected !== false;
      const button = h(
        'button',
        { type: 'button', class: `actor${actor.sessionId === state.selectedId ? ' selected' : ''}${connected ? '' : ' gone'}`, 'data-session': actor.sessionId },
        h('span', { class: `dot ${connected && actor.status === 'active' ? 'live' : 'off'}` }),
        h('span', { class: 'name' }, actor.name),
        h('span', { class: 'muted' }, ` ${actor.sessionId}${connected ? '' : ' · disconnected'}${actor.status !== 'active' ? ` · ${actor.status}` : ''}`),
      );
      button.addEventListener('click', () => {
        state.select(actor.sessionId);
        schedule();
      });
      return h('li', {}, button);
    }),
  );
}

function renderChart(actor: ActorRecord | null): void {
  const title = byId('chart-title');
  if (actor === null || actor.graph === null || actor.definition === null) {
    chartFor = null;
    title.textContent = 'statechart';
    chart.draw(null, relayStatus === 'open' ? 'No machine yet. Start a client with --inspect, or pass createRelayInspector to createConnection.' : 'Connecting to the relay…');
    return;
  }
  title.textContent = `${actor.name} · ${actor.sessionId}`;
  const problems = byId('chart-problems');
  problems.textContent = actor.graph.problems.length > 0 ? `definition problems: ${actor.graph.problems.join('; ')}` : '';
  if (chartFor === actor.definition) return;
  chartFor = actor.definition;
  const cached = layouts.get(actor.definition);
  if (cached !== undefined) {
    drawLayout(cached);
    return;
  }
  chart.draw(null, 'laying out the chart…');
  const token = ++layoutToken;
  const definition = actor.definition;
  const graph = actor.graph;
  const started = performance.now();
  layoutChart(graph, elk, measure, direction).then(
    (layout) => {
      if (layouts.size > 10) layouts.clear();
      layouts.set(definition, layout);
      if (token !== layoutToken) return;
      layoutMs = Math.round(performance.now() - started);
      drawLayout(layout);
      renderHighlight(state.selected);
    },
    (error: unknown) => {
      if (token !== layoutToken) return;
      chart.draw(null, `layout failed: ${(error as Error).message}`);
    },
  );
}

function drawLayout(layout: ChartLayout): void {
  chart.draw(layout);
  previousActive = new Set();
  litKey = '';
}

function renderHighlight(actor: ActorRecord | null): void {
  if (actor === null || actor.graph === null) return;
  const key = `${actor.sessionId}@${actor.version}`;
  if (key === litKey) return;
  // Another machine selected: nothing of the last one's states says which arrow was taken.
  if (!litKey.startsWith(`${actor.sessionId}@`)) previousActive = new Set();
  litKey = key;
  const active = activeStateIds(actor.graph, actor.value);
  const next = new Set(active);
  const taken = actor.lastEventType === null ? [] : chart.edgesTaken(previousActive, next, actor.lastEventType);
  chart.highlight(active, taken);
  // Keep the lit arrow until a transition lights another one.
  if (!sameSet(previousActive, next)) previousActive = next;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const item of a) if (!b.has(item)) return false;
  return true;
}

// ── controls ─────────────────────────────────────────────────────────────

const pause = byId<HTMLButtonElement>('log-pause');
pause.addEventListener('click', () => {
  const paused = !logView.paused;
  logView.setPaused(paused, state.selected?.log.at(-1)?.seq ?? 0);
  pause.textContent = paused ? 'Resume' : 'Pause';
  pause.setAttribute('aria-pressed', String(paused));
  const actor = state.selected;
  if (!paused) logView.update(actor?.sessionId ?? null, actor === null ? [] : state.logOf(actor));
});

byId<HTMLButtonElement>('log-clear').addEventListener('click', () => {
  const actor = state.selected;
  if (actor !== null) actor.log.length = 0;
  logView.clear();
  logView.update(actor?.sessionId ?? null, []);
});

const zoom = byId<HTMLButtonElement>('chart-zoom');
let zoomMode: 'fit' | 'actual' = 'fit';
chart.setZoom(zoomMode);
zoom.addEventListener('click', () => {
  zoomMode = zoomMode === 'fit' ? 'actual' : 'fit';
  chart.setZoom(zoomMode);
  zoom.textContent = zoomMode === 'fit' ? '100%' : 'Fit';
});

// ── the relay connection ─────────────────────────────────────────────────

let retryMs = 250;
function connect(): void {
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/page`);
  relayStatus = 'connecting';
  socket.onopen = () => {
    relayStatus = 'open';
    retryMs = 250;
    schedule();
  };
  socket.onmessage = (event: MessageEvent<unknown>) => {
    if (typeof event.data !== 'string') return;
    let message: unknown;
    try {
      message = JSON.parse(event.data);
    } catch {
      state.ignored++;
      return;
    }
    state.apply(message);
    schedule();
  };
  socket.onclose = () => {
    relayStatus = 'closed';
    schedule();
    // The relay replays everything on the next connection (relay.hello resets the model).
    setTimeout(connect, retryMs);
    retryMs = Math.min(5_000, retryMs * 2);
  };
}

window.__inspector = Object.freeze({
  get relay() {
    return relayStatus;
  },
  get messages() {
    return state.messages;
  },
  get frames() {
    return frames;
  },
  get selected() {
    return state.selectedId;
  },
  get actors() {
    return state.machineActors().map((actor) => ({
      sessionId: actor.sessionId,
      name: actor.name,
      source: actor.relaySourceId,
      sourceConnected: state.sources.get(actor.relaySourceId)?.connected !== false,
      status: actor.status,
    }));
  },
  get states() {
    return chart.drawnStateIds();
  },
  get highlighted() {
    return chart.highlightedIds();
  },
  get log() {
    const actor = state.selected;
    return actor === null ? [] : state.logOf(actor).map((entry) => ({ ...entry, stateIds: [...entry.stateIds] }));
  },
  get context() {
    const tree = contextView.tree;
    return tree === null ? null : structuredClone(tree);
  },
  get layoutMs() {
    return layoutMs;
  },
  get paused() {
    return logView.paused;
  },
});

schedule();
connect();
