/**
 * The browser app (../main.ts) again in React, on `statesocket/react`: one connection (protocol
 * version 2) shared by `<ConnectionProvider>`, and a component per part of the page, each reading
 * what it shows through a hook, so each re-renders only for its own changes and at most once per
 * frame under a flood:
 *
 * | component      | hook                                  | shows                                     |
 * |----------------|---------------------------------------|-------------------------------------------|
 * | `StatusBar`    | `useConnectionStatus()`               | the badge, retry countdown, Retry now     |
 * | `PricesPanel`  | `useChannel('prices')`                | the feed's table (in a `<Profiler>`)      |
 * | `NotesPanel`   | `useChannel('notes', { presence })`   | the shared notes, pending edits, the form, who is here |
 * | `ChannelPanel` | `useChannel('admin/audit')`           | a channel refused to everyone             |
 *
 * Served by the reference server at `/react/` (src/server/static-files.ts), bundled by
 * scripts/build-assets.ts with React's profiling build, so the `<Profiler>` counts commits.
 * `window.statesocketReact` exposes the connection and the page's counters (./probe.ts) to tests
 * and the bench (read only).
 */
import { StrictMode, useEffect } from 'react';
import { createRoot } from 'react-dom/client';
import type { Connection } from '../../src/connection.js';
import { createChannelProtocol } from '../../src/index.js';
import type { ConnectionOptions } from '../../src/options.js';
import { ConnectionProvider, useConnection } from '../../src/react/index.js';
import type { StateName } from '../../src/types.js';
import { APP_CHANNELS, memberName } from '../channels.js';
import { ChannelPanel } from './ChannelPanel.js';
import { NotesPanel } from './NotesPanel.js';
import { PricesPanel } from './PricesPanel.js';
import { probe, type Probe } from './probe.js';
import { StatusBar } from './StatusBar.js';

/** What the page exposes as `window.statesocketReact`. */
export interface StatesocketReactApp {
  readonly connection: Connection;
  /** This page's member name (its token) and client id. */
  readonly name: string;
  readonly clientId: string;
  /** The states the connection entered, oldest first. */
  history(): StateName[];
  /** The price table's commits and the frames counted between `start()` and `stop()`. */
  readonly probe: Probe;
}

declare global {
  interface Window {
    readonly statesocketReact?: StatesocketReactApp;
  }
}

/** A client id for this page: its name and 16 random bytes (so "you" is this page, not every page with the name). */
function newClientId(name: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `${name}.${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

const name = memberName(new URLSearchParams(location.search).get('name'), Math.random);
const clientId = newClientId(name);

/** Made once, outside any component: the provider's connection lives as long as the page. */
const OPTIONS: ConnectionOptions = {
  url: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/`,
  // A server with users (npm start's) takes the member's name as its token; one without ignores it.
  protocol: createChannelProtocol({ token: name, clientId, defaultChannel: false }),
  reconnect: { initialDelayMs: 500, maxDelayMs: 5_000 },
  heartbeat: { intervalMs: 10_000, timeoutMs: 5_000 },
};

/** Publishes the page's handle once the provider's connection exists. */
function Expose() {
  const connection = useConnection();
  useEffect(() => {
    const app: StatesocketReactApp = Object.freeze({
      connection,
      name,
      clientId,
      history: () => connection.history.map((entry) => entry.state),
      probe,
    });
    Object.defineProperty(window, 'statesocketReact', { value: app, configurable: true, enumerable: true });
  }, [connection]);
  return null;
}

/**
 * Closes the provider's connection with 1000 when the page goes away for good, as the DOM app does
 * (a page entering the back-forward cache is the library's: `page.suspended`). Stopped by hand, it
 * stays stopped: the provider replaces only a connection its own effects stopped.
 */
function StopOnPageHide() {
  const connection = useConnection();
  useEffect(() => {
    const leave = (event: PageTransitionEvent) => {
      if (!event.persisted) connection.stop();
    };
    addEventListener('pagehide', leave);
    return () => removeEventListener('pagehide', leave);
  }, [connection]);
  return null;
}

function App() {
  return (
    <ConnectionProvider options={OPTIONS}>
      <Expose />
      <StopOnPageHide />
      <StatusBar name={name} />
      <main className="channels">
        <PricesPanel />
        <NotesPanel clientId={clientId} />
        <ChannelPanel name={APP_CHANNELS.forbidden} hint="A channel this page may not read: it fails alone, on the same connection, while the others stay live." />
      </main>
    </ConnectionProvider>
  );
}

const root = document.getElementById('root');
if (root === null) throw new Error('app: the page has no #root');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
