/**
 * `--inspect` for the scripts (client and demo): one inspector shared by all
 * of a run's connections, so a hundred connections make one socket and one
 * warning, not a hundred. It never keeps the process alive: `stop()` closes
 * it, and an unreachable relay is given up on after a few tries.
 *
 * The inspectors need `@statelyai/inspect` (and Stately's hosted one also
 * `partysocket`), optional peer dependencies of the package: they are loaded
 * only when asked for, and a missing one is named in a warning.
 */
import { WebSocket } from 'ws';
import type { InspectorLike } from '../../src/options.js';
import { startInspectorServer } from '../../src/inspect/relay-server.js';
import { createLazyRelayInspector } from '../../src/lazy-inspector.js';
import type { WebSocketConstructor } from '../../src/types.js';
import type { InspectTarget } from './args.js';

export interface Inspection {
  /** For `createConnection({ inspect })`. */
  readonly inspector: InspectorLike;
  /** Where to look: the relay's page, or Stately's. */
  readonly pageUrl: string;
  /** What the scripts print: where to look, and where the stream goes. */
  readonly banner: string;
  /**
   * Stops streaming. Waits a moment first so the last snapshots (the
   * inspector sends them on a zero-delay timer) reach the page.
   */
  stop(): Promise<void>;
}

/** `ws://host:port/inspect` → `http://host:port/` (`wss` → `https`). */
export function pageUrlOf(sourceUrl: string): string {
  const url = new URL(sourceUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = '/';
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** What `--inspect=stately` needs besides statesocket. */
export const STATELY_PEERS = ['@statelyai/inspect', 'partysocket'] as const;

/**
 * Starts inspecting for a run of a script.
 * @throws Error naming the packages to install when Stately's inspector cannot be loaded
 */
export async function startInspection(target: InspectTarget, warn: (message: string) => void): Promise<Inspection> {
  const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 25));
  if (target.kind === 'stately') {
    let createStatelyInspector: typeof import('./stately-inspector.js').createStatelyInspector;
    try {
      ({ createStatelyInspector } = await import('./stately-inspector.js'));
    } catch (error) {
      throw new Error(`--inspect=stately needs ${STATELY_PEERS.join(' and ')} (optional peer dependencies): npm install ${STATELY_PEERS.join(' ')}`, {
        cause: error,
      });
    }
    const stately = createStatelyInspector({ warn });
    return {
      inspector: stately.inspector,
      pageUrl: stately.pageUrl,
      banner: `inspector: ${stately.pageUrl} (Stately's hosted inspector; needs the internet)`,
      async stop() {
        await settle();
        stately.stop();
      },
    };
  }
  const relay = createLazyRelayInspector({ url: target.url, WebSocket: WebSocket as unknown as WebSocketConstructor, warn });
  const pageUrl = pageUrlOf(target.url);
  return {
    inspector: relay,
    pageUrl,
    banner: `inspector: open ${pageUrl} (streaming to ${target.url}, the relay that statesocket-inspect starts)`,
    async stop() {
      await settle();
      relay.stop();
    },
  };
}

/**
 * A relay inside this process, on a free port of 127.0.0.1, with the page
 * built on its first request: what `npm start` offers by default. Starting it
 * costs a listening socket; streaming costs one JSON message per event.
 */
export async function startLocalInspection(warn: (message: string) => void): Promise<Inspection> {
  const server = await startInspectorServer({ port: 0, buildPage: 'lazy' });
  const relay = createLazyRelayInspector({ url: server.sourceUrl, WebSocket: WebSocket as unknown as WebSocketConstructor, warn });
  return {
    inspector: relay,
    pageUrl: server.pageUrl,
    banner: `inspector: open ${server.pageUrl} to watch the machine live (--no-inspect turns it off)`,
    async stop() {
      await new Promise<void>((resolve) => setTimeout(resolve, 25));
      relay.stop();
      await server.close();
    },
  };
}
