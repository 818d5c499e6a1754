/** What the Node server counts: per-connection limits, faults, the feed, the data file. */
import type { ServerCounters } from './sync-server.js';

export interface FaultCounters {
  drop: number;
  close: number;
  stall: number;
  garbage: number;
  oversized: number;
  restart: number;
  total: number;
}

export interface ServerStats extends ServerCounters {
  /** WebSocket connections open now. */
  open: number;
  /** TCP sockets open now that have not upgraded to a WebSocket (HTTP requests, upgrade requests still arriving). */
  unupgraded: number;
  /** Connections stalled now. */
  stalled: number;
  /** Frames (and close frames) held for stalled connections now. */
  heldFrames: number;
  /** Connections closed with 4403 because of their Origin. */
  originFailures: number;
  /** Connections closed with 1013 for sending no accepted hello within `helloTimeoutMs`. */
  helloTimeouts: number;
  /** Connections closed with 1013 at accept: over `maxConnections` or `maxConnectionsPerAddress`. */
  connectionsRefused: number;
  /** TCP sockets destroyed on arrival: over the caps on sockets not yet upgraded to a WebSocket. */
  socketsRefused: number;
  /** Connections held before their token was judged, for earlier failed authentications from their address. */
  authHeld: number;
  /** Connections closed with 1013 at accept: their address would have waited over `authThrottle.maxDelayMs`. */
  authThrottled: number;
  /** Control requests refused (peer, Host, Origin, token or content type). */
  controlRefusals: number;
  /** Connections terminated for not answering a ws ping. */
  heartbeatKills: number;
  /** Client frames over `maxPayloadBytes` (ws closed them with 1009). */
  oversizedFrames: number;
  /** Changes made by the feed. */
  feedChanges: number;
  /** Feed changes refused (the document was at maxDataBytes). */
  feedRefused: number;
  /** Feed changes that failed for another reason (a write, the store unavailable). */
  feedFailures: number;
  /** Successful writes of the data file. */
  persists: number;
  /** Failed writes of the data file (an op whose write failed is not applied: its connection is closed with 1011). */
  persistFailures: number;
  /** Faults injected through `/control/`, by kind. */
  faults: FaultCounters;
}
