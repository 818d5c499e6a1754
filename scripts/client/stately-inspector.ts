/**
 * `--inspect=stately`: streams the machine to Stately's hosted inspector
 * (online only). The format and serialization are `@statelyai/inspect`'s own
 * (`createInspector`); the transport is the one `createSkyInspector` 0.7.2
 * uses (a PartySocket room `inspect-<uuid>` on Stately's Sky host, frames in
 * superjson's envelope, the page at stately.ai/registry/inspect/<uuid>).
 *
 * Why not `createSkyInspector` itself: in Node its socket reconnects forever
 * and the returned `stop()` cannot close it (the socket is private to the
 * function), so a client offline would never exit. This one gives up after a
 * few attempts, warns once, and `stop()` closes the socket.
 */
import { randomUUID } from 'node:crypto';
import { createInspector } from '@statelyai/inspect';
import { PartySocket } from 'partysocket';
import { WebSocket } from 'ws';
import { redactValue } from '../../src/redact.js';

/** Where `createSkyInspector` (@statelyai/inspect 0.7.2) sends and shows sessions. */
const SKY_HOST = 'stately-sky-beta.mellson.partykit.dev';
const SKY_PAGE = 'https://stately.ai/registry/inspect';

export interface StatelyInspectorOptions {
  /** Connection attempts before giving up. @default 4 */
  maxAttempts?: number;
  /** Called once when Sky cannot be reached. @default console.warn */
  warn?: (message: string) => void;
}

export interface StatelyInspector {
  /** Give this to `createConnection({ inspect })`. */
  readonly inspector: ReturnType<typeof createInspector>;
  /** The page showing this session (it fills in once the socket is open). */
  readonly pageUrl: string;
  /** Closes the socket; nothing keeps the process alive afterwards. */
  stop(): void;
}

/** Starts a hosted-inspector session. */
export function createStatelyInspector(options: StatelyInspectorOptions = {}): StatelyInspector {
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const maxAttempts = options.maxAttempts ?? 4;
  const sessionId = randomUUID();
  const socket = new PartySocket({
    host: SKY_HOST,
    // createSkyInspector's partysocket 0.0.x builds /party/<room> for the default party.
    basePath: `party/inspect-${sessionId}`,
    WebSocket,
    maxRetries: Math.max(0, maxAttempts - 1),
    maxEnqueuedMessages: 1000,
    connectionTimeout: 5000,
  });
  let warned = false;
  let failures = 0;
  socket.addEventListener('error', (event) => {
    failures++;
    if (warned || failures < maxAttempts) return;
    warned = true;
    const message = (event as { message?: unknown }).message;
    warn(`statesocket: Stately's hosted inspector (${SKY_HOST}) is not reachable${typeof message === 'string' ? `: ${message}` : ''}; inspection is off (the connection runs normally)`);
  });
  const inspector = createInspector(
    {
      send(event) {
        // superjson's envelope for plain JSON values (what the Sky page decodes).
        socket.send(JSON.stringify({ json: event }));
      },
      stop() {
        socket.close();
      },
    },
    {
      serializationDepthLimit: 60,
      sanitizeContext: (context) => redactValue(context) as typeof context,
      sanitizeEvent: (event) => redactValue(event) as typeof event,
    },
  );
  return {
    inspector,
    pageUrl: `${SKY_PAGE}/${sessionId}`,
    stop() {
      socket.close();
    },
  };
}
