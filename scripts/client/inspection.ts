/**
 * `--inspect` for the scripts (client and demo): one inspector shared by all
 * of a run's connections, so a hundred connections make one socket and one
 * warning, not a hundred. It never keeps the process alive: `stop()` closes
 * it, and an unreachable relay is given up on after a few tries.
 */
import { WebSocket } from 'ws';
import type { InspectorLike } from '../../src/options.js';
import { createRelayInspector } from '../../src/inspect/relay-inspector.js';
import { startInspectorServer } from '../../src/inspect/relay-server.js';
import type { WebSocketConstructor } from '../../src/types.js';
import type { InspectTarget } from './args.js';
import { createStatelyInspector } from './stately-inspector.js';

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

/** Starts inspecting for a run of a script. */
export function startInspection(target: InspectTarget, warn: (message: string) => void): Inspection {
  const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 25));
  if (target.kind === 'stately') {
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
  const relay = createRelayInspector({ url: target.url, WebSocket: WebSocket as unknown as WebSocketConstructor, warn });
  const pageUrl = pageUrlOf(target.url);
  return {
    inspector: relay,
    pageUrl,
    banner: `inspector: open ${pageUrl} (streaming to ${target.url}, the relay of npm run inspect)`,
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
  const relay = createRelayInspector({ url: server.sourceUrl, WebSocket: WebSocket as unknown as WebSocketConstructor, warn });
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
