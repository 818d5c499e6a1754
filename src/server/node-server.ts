/**
 * The sync server on a real network (Node only): `createSyncServer`'s logic
 * behind a `ws` WebSocketServer on an `http.Server`, plus what a test bench
 * needs around it: a live feed, ws-level heartbeat, an atomic data file, and
 * fault injection over HTTP on the same port.
 *
 * ```
 *   client                         this file                       sync-server.ts
 *   ──────                         ─────────                       ──────────────
 *   HTTP upgrade ───────────────▶  accept (always; never reject:
 *                                  a browser would see only 1006)
 *                                  Origin not own/allowed? ──▶ close 4403
 *                                  over a connection cap? ──▶ close 1013
 *                                  address failed auth? ──▶ hold (or close 1013)
 *                                  hello deadline starts (close 1013 when it passes)
 *                                  core.connect(peer, {urlToken}) ──▶ token wrong? close 4401
 *   text / binary frame ────────▶  session.receive ───────────────────▶  hello / op / ping
 *                               ◀──  peer.send (held while stalled)  ◀──  snapshot / patch / ack
 *   POST /control/<fault> ──────▶  loopback peer + Host, no foreign Origin, Bearer control token,
 *                                  JSON body ──▶ drop · close · stall · garbage · oversized · restart · change
 * ```
 *
 * Imports `ws` and `node:*`: never reachable from the browser entry.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isIP } from 'node:net';
import { basename, dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { isServerSendableCloseCode } from '../close-codes.js';
import {
  addressGroup,
  bearerToken,
  clientAddress,
  generateToken,
  isJsonContentType,
  isLoopbackAddress,
  isLoopbackName,
  judgeOrigin,
  normalizeAddress,
  normalizeOrigin,
  parseHost,
  parseOrigin,
  serverNames,
} from './access.js';
import { createAuthThrottle, DEFAULT_AUTH_THROTTLE, type AuthThrottleOptions, type AuthTicket } from './auth-throttle.js';
import { tokensEqual } from './token-equal.js';
import { describeValue } from '../options.js';
import type { Json } from '../store.js';
import type { Changes } from '../sync/messages.js';
import { SyncCloseCode } from '../sync/messages.js';
import { DEFAULT_VALUE_LIMITS } from '../sync/values.js';
import {
  ChangeRefusedError,
  InitialStateError,
  DEFAULT_DEDUP_RETENTION_MS,
  DEFAULT_MAX_DATA_BYTES,
  createSyncServer,
  type PersistedState,
  type Peer,
  type RefusedOp,
  type ServerCounters,
  type SyncServer,
} from './sync-server.js';

// ── options ────────────────────────────────────────────────────────────────

export interface NodeServerOptions {
  /**
   * Interface to listen on. Anything other than loopback exposes the server
   * (the control routes still answer loopback addresses only).
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * TCP port; 0 picks a free one (read it back from `RunningServer.port`).
   * @default 8080
   */
  port?: number;
  /**
   * Server-side changes per second: a live price feed (`BTC-USD`, `ETH-USD`, …
   * on a random walk). Applied in batches per timer tick, one patch per change. 0 turns it off.
   * @default 0
   */
  feedRatePerSec?: number;
  /**
   * Patches kept for replay after a reconnect (see `SyncServerOptions.logSize`).
   * @default 1000
   */
  logSize?: number;
  /**
   * Op ids remembered to apply each op once (see `SyncServerOptions.dedupSize`).
   * @default 10000
   */
  dedupSize?: number;
  /**
   * Milliseconds an op id is remembered at least, whatever `dedupSize` says (see
   * `SyncServerOptions.dedupRetentionMs`): when the record is full of younger ids, a new op's
   * connection is closed with 1013 and the op is re-sent later. 0: `dedupSize` alone.
   * Timed by `clock`.
   * @default 60000 (1 minute)
   */
  dedupRetentionMs?: number;
  /**
   * `hello` frames one connection may send per minute (see `SyncServerOptions.maxHellosPerMinute`);
   * one more closes it with 1013. Timed by `clock`.
   * @default 10
   */
  maxHellosPerMinute?: number;
  /**
   * Largest client frame, in bytes (ws `maxPayload`): a larger one makes ws close that connection with 1009.
   * @default 1048576 (1 MiB)
   */
  maxPayloadBytes?: number;
  /**
   * ws-level ping interval, in milliseconds; a client that has not answered the
   * previous ping when the next one is due is terminated (it sees 1006). 0 turns it off.
   * The sync protocol's own `ping` frame is answered with `pong` either way.
   * @default 0
   */
  heartbeatMs?: number;
  /**
   * Clients must present this token, in the URL query (`?token=`) or in their hello;
   * otherwise they are accepted, then closed with 4401.
   * @default none (no authentication)
   */
  token?: string;
  /**
   * Secret for the `/control/` routes, sent as `Authorization: Bearer <controlToken>`. Separate from
   * `token`: whoever may sync may not necessarily inject faults or rewrite the data.
   * Read it back from `RunningServer.controlToken`.
   * @default a new random token (24 bytes, 48 hex digits) at every start
   */
  controlToken?: string;
  /**
   * Other origins whose pages may open the WebSocket (e.g. `['http://localhost:5173']` for a dev
   * server). Always allowed: handshakes without an Origin header (not a browser) and the server's
   * own origin (Origin's `host:port` equals the Host header, for a name this server answers to:
   * the loopback names when listening on loopback or every interface, the `host` value, the hosts
   * of these origins, or an IP literal). Any other Origin is accepted, then closed with 4403:
   * without this check any page open in the user's browser could read and write the document
   * (cross-site WebSocket hijacking).
   * @default [] (own origin and non-browser clients only)
   */
  allowedOrigins?: readonly string[];
  /**
   * A connection with more than this many bytes waiting to be sent is closed with 1013 (slow consumer),
   * and terminated if the close does not complete within `SERVER_LIMITS.closeGraceMs`. Frames held by
   * a `stall` count too; the snapshot sent on the hello does not (one in flight: a hello repeated before
   * its snapshot drained has the next one counted in full).
   * @default 4194304 (4 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * Arrays/objects a value in a change may nest (`1` has depth 0, `{"a":[1]}` depth 2); a deeper
   * op is refused with `ERR_INVALID_FRAME`.
   * @default 64
   */
  maxValueDepth?: number;
  /**
   * UTF-8 bytes of an op's changes as JSON (its `set` object plus its `delete` array); a larger
   * op is refused with `ERR_INVALID_FRAME`.
   * @default 262144 (256 KiB)
   */
  maxOpBytes?: number;
  /**
   * UTF-8 bytes of the whole document as JSON; an op that would take it over (and grow it) is
   * refused with `ERR_DATA_LIMIT`, a control change with 400. The default keeps a snapshot frame
   * within the client's default `maxMessageBytes` (1 MiB); raise both together.
   * @default 1047552 (1 MiB - 1 KiB)
   */
  maxDataBytes?: number;
  /**
   * JSON file holding the data and the dedup record. Loaded at start when it exists (a corrupt
   * file is a startup error); rewritten atomically (temp file, fsync, rename) after every op
   * before its ack goes out, and at most every 200 ms for feed changes and refused op ids.
   * @default none (nothing survives the process)
   */
  dataFile?: string;
  /**
   * A connection must send the sync protocol's `hello` (and be accepted) within this many
   * milliseconds of its upgrade, or it is closed with 1013 and a reason saying so: a client
   * speaking another protocol learns why, and silent sockets cannot pile up. Time an
   * address spends held by the failed-authentication delay is added. The same deadline (at least
   * `SERVER_LIMITS.minHttpTimeoutMs`, on the wall clock) bounds the time to send an HTTP request's
   * headers (`server.headersTimeout`) and the whole request (`server.requestTimeout`), so a
   * half-sent upgrade request cannot hold its socket longer than a silent WebSocket.
   * @default 10000
   */
  helloTimeoutMs?: number;
  /**
   * WebSocket connections open at once; one more is accepted, then closed with 1013 (try again later).
   * Sockets that have not (yet) upgraded to a WebSocket (HTTP requests, upgrade requests still
   * arriving) are counted apart, at most max(this, `SERVER_LIMITS.minUnupgradedSockets`) at once;
   * one more is destroyed on arrival, with no answer.
   * @default 10000
   */
  maxConnections?: number;
  /**
   * WebSocket connections open at once from one client address (see `trustProxy`; an IPv4
   * address or an IPv6 /64, IPv4-mapped IPv6 as IPv4: see `addressGroup`); one more is
   * accepted, then closed with 1013. A load test from one machine needs this raised. Sockets
   * from one peer address that have not (yet) upgraded are counted apart, at most
   * `SERVER_LIMITS.unupgradedSocketsPerAddress` (64) at once whatever this says (one more is
   * destroyed on arrival; a trusted proxy's own address counts only in the total).
   * @default 1000
   */
  maxConnectionsPerAddress?: number;
  /**
   * Addresses of reverse proxies in front of this server (e.g. `['127.0.0.1']` for nginx on the
   * same machine). From these peers the client address is read from `X-Forwarded-For` (the
   * right-most entry that is not itself a trusted proxy); from any other peer the header is
   * ignored. The address counts for `maxConnectionsPerAddress`, the failed-authentication delay
   * and the control routes' loopback check.
   * @default [] (the header is never read)
   */
  trustProxy?: readonly string[];
  /**
   * The growing delay for repeated failed authentication from one address (with `token`; an IPv4
   * address or an IPv6 /64, as for `maxConnectionsPerAddress`):
   * after n failures the next attempt from that address is held min(baseDelayMs · 2^(n-1), maxDelayMs)
   * before its hello is read; one that would wait longer is closed with 1013 at once.
   * See `src/server/auth-throttle.ts`.
   * @default { baseDelayMs: 250, maxDelayMs: 10000, freeAttempts: 10, forgetAfterMs: 600000, maxAddresses: 10000 }
   */
  authThrottle?: AuthThrottleOptions;
  /**
   * Time for the hello deadline and the failed-authentication delay: `now()` in ms and timers.
   * Tests pass a `TestClock` (`statesocket/testing`) and advance it.
   * @default Date.now with the global setTimeout / clearTimeout
   */
  clock?: ServerClock;
  /**
   * Random source in [0, 1) for epochs and the feed's walk.
   * @default Math.random
   */
  random?: () => number;
  /**
   * Handles HTTP requests outside `/control/`; returns true when it answered.
   * Unanswered requests get 404.
   * @default none
   */
  staticHandler?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/** Time as the server reads it: a wall clock by default, a `TestClock` in tests. */
export interface ServerClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const SYSTEM_CLOCK: ServerClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Every default in one place. */
export const DEFAULT_SERVER_OPTIONS = {
  host: '127.0.0.1',
  port: 8080,
  feedRatePerSec: 0,
  logSize: 1000,
  dedupSize: 10_000,
  dedupRetentionMs: DEFAULT_DEDUP_RETENTION_MS,
  maxHellosPerMinute: 10,
  maxPayloadBytes: 1_048_576,
  heartbeatMs: 0,
  maxBufferedBytes: 4_194_304,
  maxValueDepth: DEFAULT_VALUE_LIMITS.maxValueDepth,
  maxOpBytes: DEFAULT_VALUE_LIMITS.maxOpBytes,
  maxDataBytes: DEFAULT_MAX_DATA_BYTES,
  helloTimeoutMs: 10_000,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1_000,
} as const;

/** Limits of the feed and the control routes (not options). */
export const SERVER_LIMITS = {
  maxFeedRatePerSec: 10_000,
  /** The feed's timer never fires more often than this; faster rates batch per tick. */
  feedTickMinMs: 50,
  /** Feed changes and recorded op refusals reach the data file at most this often. */
  feedPersistIntervalMs: 200,
  defaultStallMs: 10_000,
  maxStallMs: 600_000,
  /** Over the client's default `maxMessageBytes` (1 MiB). */
  defaultOversizedBytes: 2 * 1_048_576,
  maxOversizedBytes: 64 * 1_048_576,
  maxControlBodyBytes: 1_048_576,
  /** RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code. */
  maxCloseReasonBytes: 123,
  /**
   * A connection the server closed (a slow consumer, a refusal at accept, the hello deadline, ...)
   * is terminated when its close handshake has not completed by then: a client that reads nothing
   * never reads the close frame queued behind its backlog, a peer that ignores close frames never
   * answers, and ws would otherwise keep the socket and its buffers for 30 s.
   */
  closeGraceMs: 1_000,
  /**
   * What the slow-consumer check adds per frame waiting to be written, on top of its bytes:
   * ws frames each message into a header and a payload buffer and queues a write request
   * for each (about 300 bytes of heap for a 80-byte feed patch, bench scenario 7).
   */
  frameOverheadBytes: 256,
  /**
   * Floor of the HTTP headers and request timeouts derived from `helloTimeoutMs`: Node checks
   * them on the wall clock (a test's `TestClock` does not drive them), at most every
   * `httpCheckIntervalMs`.
   */
  minHttpTimeoutMs: 1_000,
  /** How often Node checks the HTTP headers and request timeouts (`connectionsCheckingInterval`) at most. */
  httpCheckIntervalMs: 1_000,
  /**
   * Floor of the total cap on sockets not yet upgraded (`maxConnections` applies to them, counted
   * apart from WebSockets, but never below this): a burst of parallel connects, or a browser
   * loading the page (6 sockets), arrives before any of them upgrades, and a socket destroyed on
   * arrival learns nothing, where one over the WebSocket caps gets 1013.
   */
  minUnupgradedSockets: 64,
  /**
   * Sockets not yet upgraded from one peer address at once, whatever `maxConnectionsPerAddress`
   * says: enough for a burst of parallel connects, and small, so one address cannot hold a
   * thousand half-sent requests' descriptors (one more is destroyed on arrival).
   */
  unupgradedSocketsPerAddress: 64,
  /** Descriptors counted for the listener, the data file, stdio and the like in `descriptorWarning`. */
  reservedDescriptors: 32,
} as const;

/**
 * The soft limit on open files in the text of Linux's /proc/self/limits (the `Max open files`
 * row); undefined when the row is missing or the limit is unlimited.
 */
export function openFilesSoftLimit(limits: string): number | undefined {
  const row = /^Max open files\s+(\S+)/m.exec(limits);
  if (row === null || !/^\d+$/.test(row[1]!)) return undefined;
  return Number(row[1]);
}

/**
 * A warning when the connection caps allow more sockets than the process may open (`softLimit`,
 * see `openFilesSoftLimit`): `maxConnections` WebSockets, max(`maxConnections`,
 * `SERVER_LIMITS.minUnupgradedSockets`) sockets not yet upgraded, and a few more descriptors.
 * Past the limit, accepting fails with EMFILE and nobody can connect. Undefined when they fit.
 */
export function descriptorWarning(maxConnections: number, softLimit: number | undefined): string | undefined {
  if (softLimit === undefined) return undefined;
  const unupgraded = Math.max(maxConnections, SERVER_LIMITS.minUnupgradedSockets);
  const needed = maxConnections + unupgraded + SERVER_LIMITS.reservedDescriptors;
  if (needed <= softLimit) return undefined;
  const fits = Math.max(1, Math.floor((softLimit - SERVER_LIMITS.reservedDescriptors) / 2));
  return (
    `warning: --max-connections ${maxConnections} lets ${maxConnections} WebSockets and ${unupgraded} sockets not yet upgraded be open at once ` +
    `(${needed} descriptors with the server's own), over this process's open-files limit of ${softLimit} (ulimit -n): ` +
    `a flood could make accepting fail (EMFILE) for everyone. Raise the limit (ulimit -n ${needed}) or lower --max-connections (at most ${fits} fit).`
  );
}

interface ResolvedServerOptions {
  host: string;
  port: number;
  feedRatePerSec: number;
  logSize: number;
  dedupSize: number;
  dedupRetentionMs: number;
  maxHellosPerMinute: number;
  maxPayloadBytes: number;
  heartbeatMs: number;
  helloTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  trustProxy: ReadonlySet<string>;
  authThrottle: Required<AuthThrottleOptions>;
  clock: ServerClock;
  token: string | undefined;
  controlToken: string;
  allowedOrigins: ReadonlySet<string>;
  maxBufferedBytes: number;
  maxValueDepth: number;
  maxOpBytes: number;
  maxDataBytes: number;
  dataFile: string | undefined;
  random: () => number;
  staticHandler: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
}


function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`startServer: ${name} must be a number; received ${describeValue(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`startServer: ${name} must be a whole number from ${min} to ${max}; received ${describeValue(value)}`);
  }
  return value;
}

function text(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError(`startServer: ${name} must be a string; received ${describeValue(value)}`);
  if (value === '') throw new RangeError(`startServer: ${name} must not be empty; leave it out instead`);
  return value;
}

function origins(name: string, value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw new TypeError(`startServer: ${name} must be an array of origins; received ${describeValue(value)}`);
  }
  return new Set(value.map((entry: string) => normalizeOrigin(entry, name)));
}

function addresses(name: string, value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw new TypeError(`startServer: ${name} must be an array of IP addresses; received ${describeValue(value)}`);
  }
  for (const entry of value as string[]) {
    if (isIP(entry.trim()) === 0) throw new RangeError(`startServer: ${name} entries must be IP addresses; received ${JSON.stringify(entry)}`);
  }
  return new Set((value as string[]).map(normalizeAddress));
}

function throttle(name: string, value: unknown): Required<AuthThrottleOptions> {
  if (value === undefined) return { ...DEFAULT_AUTH_THROTTLE };
  if (typeof value !== 'object' || value === null) throw new TypeError(`startServer: ${name} must be an object; received ${describeValue(value)}`);
  const given = value as AuthThrottleOptions;
  const t = DEFAULT_AUTH_THROTTLE;
  return {
    baseDelayMs: integer(`${name}.baseDelayMs`, given.baseDelayMs, t.baseDelayMs, 0, 2 ** 31 - 1),
    maxDelayMs: integer(`${name}.maxDelayMs`, given.maxDelayMs, t.maxDelayMs, 0, 2 ** 31 - 1),
    freeAttempts: integer(`${name}.freeAttempts`, given.freeAttempts, t.freeAttempts, 0, 10_000_000),
    forgetAfterMs: integer(`${name}.forgetAfterMs`, given.forgetAfterMs, t.forgetAfterMs, 1, Number.MAX_SAFE_INTEGER),
    maxAddresses: integer(`${name}.maxAddresses`, given.maxAddresses, t.maxAddresses, 1, 10_000_000),
  };
}

function clock(name: string, value: unknown): ServerClock {
  if (value === undefined) return SYSTEM_CLOCK;
  const given = value as Partial<ServerClock> | null;
  if (typeof given !== 'object' || given === null || typeof given.now !== 'function' || typeof given.setTimeout !== 'function' || typeof given.clearTimeout !== 'function') {
    throw new TypeError(`startServer: ${name} must have now(), setTimeout() and clearTimeout(); received ${describeValue(value)}`);
  }
  return given as ServerClock;
}

function fn<F>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`startServer: ${name} must be a function; received ${describeValue(value)}`);
  return value as F;
}

/** Validates the options and fills in the defaults; throws TypeError/RangeError naming the option and the value. */
export function resolveServerOptions(options: NodeServerOptions): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`startServer: options must be an object; received ${describeValue(options)}`);
  }
  const d = DEFAULT_SERVER_OPTIONS;
  const feedRatePerSec = options.feedRatePerSec ?? d.feedRatePerSec;
  if (typeof feedRatePerSec !== 'number') {
    throw new TypeError(`startServer: feedRatePerSec must be a number; received ${describeValue(feedRatePerSec)}`);
  }
  if (!Number.isFinite(feedRatePerSec) || feedRatePerSec < 0 || feedRatePerSec > SERVER_LIMITS.maxFeedRatePerSec) {
    throw new RangeError(
      `startServer: feedRatePerSec must be from 0 to ${SERVER_LIMITS.maxFeedRatePerSec}; received ${describeValue(feedRatePerSec)}`,
    );
  }
  return {
    host: text('host', options.host) ?? d.host,
    port: integer('port', options.port, d.port, 0, 65_535),
    feedRatePerSec,
    logSize: integer('logSize', options.logSize, d.logSize, 0, 10_000_000),
    dedupSize: integer('dedupSize', options.dedupSize, d.dedupSize, 1, 10_000_000),
    dedupRetentionMs: integer('dedupRetentionMs', options.dedupRetentionMs, d.dedupRetentionMs, 0, 2 ** 31 - 1),
    maxHellosPerMinute: integer('maxHellosPerMinute', options.maxHellosPerMinute, d.maxHellosPerMinute, 1, 10_000_000),
    maxPayloadBytes: integer('maxPayloadBytes', options.maxPayloadBytes, d.maxPayloadBytes, 1, 2 ** 31 - 1),
    heartbeatMs: integer('heartbeatMs', options.heartbeatMs, d.heartbeatMs, 0, 2 ** 31 - 1),
    helloTimeoutMs: integer('helloTimeoutMs', options.helloTimeoutMs, d.helloTimeoutMs, 1, 2 ** 31 - 1),
    maxConnections: integer('maxConnections', options.maxConnections, d.maxConnections, 1, 10_000_000),
    maxConnectionsPerAddress: integer('maxConnectionsPerAddress', options.maxConnectionsPerAddress, d.maxConnectionsPerAddress, 1, 10_000_000),
    trustProxy: addresses('trustProxy', options.trustProxy),
    authThrottle: throttle('authThrottle', options.authThrottle),
    clock: clock('clock', options.clock),
    token: text('token', options.token),
    controlToken: text('controlToken', options.controlToken) ?? generateToken(),
    allowedOrigins: origins('allowedOrigins', options.allowedOrigins),
    maxBufferedBytes: integer('maxBufferedBytes', options.maxBufferedBytes, d.maxBufferedBytes, 1, Number.MAX_SAFE_INTEGER),
    // Past a few thousand, JSON.stringify itself runs out of stack on the value.
    maxValueDepth: integer('maxValueDepth', options.maxValueDepth, d.maxValueDepth, 1, 1_000),
    maxOpBytes: integer('maxOpBytes', options.maxOpBytes, d.maxOpBytes, 2, 2 ** 31 - 1),
    maxDataBytes: integer('maxDataBytes', options.maxDataBytes, d.maxDataBytes, 2, Number.MAX_SAFE_INTEGER),
    dataFile: text('dataFile', options.dataFile),
    random: fn<() => number>('random', options.random) ?? Math.random,
    staticHandler: fn<(req: IncomingMessage, res: ServerResponse) => boolean>('staticHandler', options.staticHandler),
  };
}

// ── data file ──────────────────────────────────────────────────────────────

/** The data file is unreadable or not a statesocket data file: the server does not start. */
export class DataFileError extends Error {
  override readonly name = 'DataFileError';
  readonly code = 'ERR_DATA_FILE';
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.path = path;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the data file; undefined when it does not exist. */
export function loadDataFile(path: string): PersistedState | undefined {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DataFileError(path, `cannot read data file ${path}: ${(error as Error).message}`, { cause: error });
  }
  const corrupt = (problem: string, cause?: unknown) =>
    new DataFileError(
      path,
      `data file ${path} is corrupt: ${problem}. Expected {"data": {...}, "appliedOpIds": [...]} as written by this server; restore it or remove it to start empty.`,
      cause === undefined ? undefined : { cause },
    );
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw corrupt(`not JSON (${(error as Error).message})`, error);
  }
  if (!isRecord(value)) throw corrupt(`the top level is ${Array.isArray(value) ? 'an array' : describeValue(value)}, not an object`);
  if (!isRecord(value.data)) throw corrupt('"data" is missing or not an object');
  if (!Array.isArray(value.appliedOpIds) || !value.appliedOpIds.every((id) => typeof id === 'string')) {
    throw corrupt('"appliedOpIds" is missing or not an array of strings');
  }
  const ids = value.appliedOpIds as string[];
  const state: PersistedState = { data: value.data as Record<string, Json>, appliedOpIds: ids };
  // Written since the records keep each id's time and owner; an older file has neither, and its
  // ids count as recorded long ago (see SyncServerOptions.initial).
  const isTime = (at: unknown) => typeof at === 'number' && Number.isFinite(at);
  const { appliedOpTimes, appliedOpOwners, opOwners } = value;
  if (opOwners !== undefined) {
    if (!Array.isArray(opOwners) || !opOwners.every((o) => typeof o === 'string')) throw corrupt('"opOwners" is not an array of strings');
    state.opOwners = opOwners as string[];
  }
  const ownerCount = state.opOwners?.length ?? 0;
  const isOwner = (o: unknown) => typeof o === 'number' && Number.isInteger(o) && o >= 0 && o < ownerCount;
  if (appliedOpTimes !== undefined) {
    if (!Array.isArray(appliedOpTimes) || appliedOpTimes.length !== ids.length || !appliedOpTimes.every(isTime)) {
      throw corrupt('"appliedOpTimes" is not an array of times as long as "appliedOpIds"');
    }
    state.appliedOpTimes = appliedOpTimes as number[];
  }
  if (appliedOpOwners !== undefined) {
    if (!Array.isArray(appliedOpOwners) || appliedOpOwners.length !== ids.length || !appliedOpOwners.every(isOwner)) {
      throw corrupt('"appliedOpOwners" is not an array of indexes into "opOwners" as long as "appliedOpIds"');
    }
    state.appliedOpOwners = appliedOpOwners as number[];
  }
  // Written since refusals are recorded; an older file has none, and loads with an empty record.
  // Files written before the record dropped messages hold one per refusal: read, then dropped.
  const { refusedOps } = value;
  if (refusedOps !== undefined) {
    const isRefusal = (op: unknown) =>
      isRecord(op) &&
      typeof op.id === 'string' &&
      typeof op.code === 'string' &&
      (op.message === undefined || typeof op.message === 'string') &&
      (op.at === undefined || isTime(op.at)) &&
      (op.owner === undefined || isOwner(op.owner));
    if (!Array.isArray(refusedOps) || !refusedOps.every(isRefusal)) {
      throw corrupt('"refusedOps" is not an array of {id, code}');
    }
    state.refusedOps = (refusedOps as RefusedOp[]).map(({ id, code, at, owner }) => ({ id, code, ...(at === undefined ? {} : { at }), ...(owner === undefined ? {} : { owner }) }));
  }
  return state;
}

/**
 * Encodes outgoing frames to Buffers, sharing one Buffer per text. The core sends the same string
 * to every connection for a broadcast patch and for the snapshot of one (epoch, seq): ws queues a
 * Buffer without a copy, a string it would copy per connection (1,000 hellos on a 1 MiB document
 * held 1,000 MiB). The snapshot has its own slot, apart from every other frame (patches, acks,
 * pongs): a pong or an ack between two hellos must not make the next hello encode ~1 MiB again.
 */
export function sharedFrames(): (text: string) => Buffer {
  let snapshot: { text: string; buffer: Buffer } | undefined;
  let other: { text: string; buffer: Buffer } | undefined;
  return (text) => {
    if (text.startsWith('{"type":"snapshot"')) {
      if (snapshot?.text !== text) snapshot = { text, buffer: Buffer.from(text, 'utf8') };
      return snapshot.buffer;
    }
    if (other?.text !== text) other = { text, buffer: Buffer.from(text, 'utf8') };
    return other.buffer;
  };
}

let tempCounter = 0;

/**
 * Replaces the data file atomically: a reader (or a crash) sees the old file or
 * the new one, never half of one. Write a temp file in the same directory (a
 * rename is atomic only within one file system), fsync it, rename it over the
 * file, then fsync the directory so the rename itself is durable.
 */
export function writeDataFileAtomic(path: string, state: PersistedState): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${tempCounter++}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'w', 0o644);
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
  } catch (error) {
    // The cleanup's own failure (the temp path is a directory, the disk is gone) must not hide the write's.
    try {
      if (fd !== undefined) closeSync(fd);
    } catch {
      // already reported through `error`
    }
    try {
      rmSync(temp, { force: true });
    } catch {
      // a temp file left behind is harmless: the next write uses another name
    }
    throw new DataFileError(path, `cannot write data file ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
  }
}

// ── small helpers ──────────────────────────────────────────────────────────

export { isLoopbackAddress } from './access.js';

/** Cuts `reason` to what fits in a close frame (123 UTF-8 bytes), never inside a character. */
function fitCloseReason(reason: string): string {
  if (Buffer.byteLength(reason) <= SERVER_LIMITS.maxCloseReasonBytes) return reason;
  let fitted = '';
  for (const char of reason) {
    if (Buffer.byteLength(fitted + char) > SERVER_LIMITS.maxCloseReasonBytes - 3) break;
    fitted += char;
  }
  return `${fitted}...`;
}

/** A frame ws delivered, as `session.receive` takes it: text as a string, binary as exactly its bytes. */
function frameInput(data: RawData, isBinary: boolean): string | ArrayBuffer {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (!isBinary) return buffer.toString('utf8');
  // A Buffer is often a view on a larger chunk shared with other frames: copy out exactly its bytes.
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
}

const FEED_SYMBOLS: ReadonlyArray<readonly [string, number]> = [
  ['BTC-USD', 64_000],
  ['ETH-USD', 3_200],
  ['SOL-USD', 150],
  ['ADA-USD', 0.45],
  ['DOT-USD', 7],
  ['XRP-USD', 0.6],
];

// ── the running server ─────────────────────────────────────────────────────

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
  /** Successful writes of the data file. */
  persists: number;
  /** Failed writes of the data file (an op whose write failed is not applied: its connection is closed with 1011). */
  persistFailures: number;
  /** Faults injected through `/control/`, by kind. */
  faults: FaultCounters;
}

export interface RunningServer {
  /** `ws://host:port/` */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** The secret the `/control/` routes require (`Authorization: Bearer <controlToken>`): the option, or the generated one. */
  readonly controlToken: string;
  /** The sync logic: epoch, seq, data, counters, `change()`, `restart()`. */
  readonly core: SyncServer;
  stats(): ServerStats;
  /**
   * Stops the live feed (no more server-side changes from it); the server keeps serving.
   * The demo calls it before comparing the client's model with the data, so both are at the same seq.
   */
  stopFeed(): void;
  /** Terminates every socket, clears every timer, writes pending feed changes, closes the HTTP server. Idempotent. */
  close(): Promise<void>;
}

/** A frame is text; as a Buffer when it is shared by several connections (ws sends a Buffer without copying it). */
type Held = { kind: 'frame'; data: string | Buffer } | { kind: 'close'; code: number | undefined; reason: string };

interface Client {
  ws: WebSocket;
  /** The key its per-address limits count under: its address (`trustProxy` applied) grouped by `addressGroup` (IPv6 per /64). */
  address: string;
  /** Counted against the connection caps (false when it was refused at accept). */
  counted: boolean;
  /** The hello deadline, then the end of an authentication hold. */
  helloTimer: unknown;
  holdTimer: unknown;
  /** Answered the last ws ping (or none was sent yet). */
  alive: boolean;
  /** Frames held while stalled; null when not stalled. */
  held: Held[] | null;
  heldBytes: number;
  /** Frames handed to ws whose write has not completed: each costs heap beyond its bytes. */
  pendingFrames: number;
  /** The one write callback of this connection (not a closure per frame). */
  written: () => void;
  stallTimer: NodeJS.Timeout | undefined;
  /** Terminates the socket when a close the server sent is not completed in time (`closeGraceMs`). */
  closeTimer: unknown;
}

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Starts the sync server on `host:port` and resolves once it listens.
 *
 * @example
 * ```ts
 * const server = await startServer({ port: 0, feedRatePerSec: 5 });
 * const connection = createConnection({ url: server.url, protocol: createSyncProtocol() });
 * await fetch(`http://127.0.0.1:${server.port}/control/drop`, {
 *   method: 'POST',
 *   headers: { authorization: `Bearer ${server.controlToken}` },
 * }); // the client sees 1006
 * await server.close();
 * ```
 * @throws TypeError / RangeError for a bad option, naming it; DataFileError for an unreadable or corrupt data file
 * @returns the running server; rejects with the listen error (e.g. EADDRINUSE)
 */
export async function startServer(options: NodeServerOptions = {}): Promise<RunningServer> {
  const opts = resolveServerOptions(options);
  const { dataFile } = opts;

  const stats = {
    originFailures: 0,
    controlRefusals: 0,
    helloTimeouts: 0,
    connectionsRefused: 0,
    socketsRefused: 0,
    authHeld: 0,
    authThrottled: 0,
    heartbeatKills: 0,
    oversizedFrames: 0,
    feedChanges: 0,
    feedRefused: 0,
    persists: 0,
    persistFailures: 0,
  };
  const faults: FaultCounters = { drop: 0, close: 0, stall: 0, garbage: 0, oversized: 0, restart: 0, total: 0 };

  // ── persistence: ops synchronously before anyone sees them; feed changes and refusals throttled ──
  // (a refusal settles its op: the client never re-sends it, so losing the last ~200 ms of
  // refusals to a crash applies nothing twice; writing each one would let any client make the
  // server rewrite and fsync the whole file per invalid op)
  let inFeed = false;
  let feedDirty = false;
  let persistTimer: NodeJS.Timeout | undefined;

  const persist = (state: PersistedState) => {
    if (dataFile === undefined) return;
    try {
      writeDataFileAtomic(dataFile, state);
    } catch (error) {
      stats.persistFailures++;
      throw error;
    }
    stats.persists++;
    feedDirty = false;
  };
  const persistFeed = () => {
    persistTimer = undefined;
    if (!feedDirty) return;
    try {
      persist(core.persisted());
    } catch {
      // Counted; the next change tries again. A timer has nobody to throw to.
    }
  };

  const initial = dataFile === undefined ? undefined : loadDataFile(dataFile);
  const coreOptions = {
    logSize: opts.logSize,
    dedupSize: opts.dedupSize,
    dedupRetentionMs: opts.dedupRetentionMs,
    maxHellosPerMinute: opts.maxHellosPerMinute,
    now: () => opts.clock.now(),
    maxBufferedBytes: opts.maxBufferedBytes,
    maxValueDepth: opts.maxValueDepth,
    maxOpBytes: opts.maxOpBytes,
    maxDataBytes: opts.maxDataBytes,
    random: opts.random,
    ...(opts.token === undefined ? {} : { token: opts.token }),
    ...(initial === undefined ? {} : { initial }),
    ...(dataFile === undefined
      ? {}
      : {
          onChange: (state: () => PersistedState, what: 'change' | 'refusal') => {
            if (!inFeed && what === 'change') return persist(state());
            feedDirty = true;
            persistTimer ??= setTimeout(persistFeed, SERVER_LIMITS.feedPersistIntervalMs);
          },
        }),
  };
  let core: SyncServer;
  try {
    core = createSyncServer(coreOptions);
  } catch (error) {
    // Only the initial data can make it throw: a value the rule or the limits refuse.
    if (!(error instanceof InitialStateError)) throw error;
    const problem = error.message.replace(/^initial data breaks the value rule: /, '');
    const message =
      error.rule === 'size'
        ? `data file ${dataFile} holds ${error.bytes} bytes of data as JSON, over --max-data-bytes (${opts.maxDataBytes}): its snapshots would be larger than clients accept (maxMessageBytes, 1 MiB by default). Raise --max-data-bytes (and the clients' maxMessageBytes with it) or shrink the file`
        : error.rule === 'depth'
          ? `data file ${dataFile} holds a value nested too deep (${problem}); raise --max-value-depth or fix the file`
          : `data file ${dataFile} holds a value the value rule refuses (${problem}); no flag allows it: fix the file`;
    throw new DataFileError(dataFile ?? '', message, { cause: error });
  }
  // Writes the file now: a missing directory or a read-only disk fails at startup, not at the first op.
  if (dataFile !== undefined) persist(core.persisted());

  // ── connections ──
  const clients = new Set<Client>();
  let closing: Promise<void> | undefined;

  const { clock } = opts;

  const shared = sharedFrames();

  /** Sends through the stall: held while the link is stalled, dropped once the socket is not open. */
  const transmit = (client: Client, item: Held) => {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    if (client.held !== null) {
      client.held.push(item);
      if (item.kind === 'frame') client.heldBytes += Buffer.byteLength(item.data) + SERVER_LIMITS.frameOverheadBytes;
      return;
    }
    if (item.kind === 'frame') {
      client.pendingFrames++;
      client.ws.send(item.data, { binary: false }, client.written);
      return;
    }
    if (item.code === undefined) client.ws.close();
    else client.ws.close(item.code, item.reason);
    // A client that reads nothing never answers the close: free its socket and buffers soon.
    client.closeTimer ??= clock.setTimeout(() => client.ws.terminate(), SERVER_LIMITS.closeGraceMs);
  };

  /** Names whose pages count as this server's own origin (see `allowedOrigins`). */
  const wsNames = serverNames(
    opts.host,
    [...opts.allowedOrigins].map((entry) => parseHost(parseOrigin(entry)?.host)?.name ?? ''),
  );

  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayloadBytes, clientTracking: false });

  // ── who gets in: caps, the failed-authentication delay, the hello deadline ──
  let admitted = 0;
  const perAddress = new Map<string, number>();
  const throttle = createAuthThrottle(opts.authThrottle, () => clock.now());
  /** Frames read while a connection is held for the authentication delay; more closes it (it should be waiting). */
  const maxEarlyFrames = 16;

  const release = (client: Client) => {
    clock.clearTimeout(client.helloTimer);
    clock.clearTimeout(client.holdTimer);
    clock.clearTimeout(client.closeTimer);
    if (!client.counted) return;
    client.counted = false;
    admitted--;
    const left = (perAddress.get(client.address) ?? 1) - 1;
    if (left > 0) perAddress.set(client.address, left);
    else perAddress.delete(client.address);
  };

  /** Sends a close frame (terminated after `closeGraceMs` if its peer never answers it). */
  const closeAndReap = (client: Client, code: number, reason: string) =>
    transmit(client, { kind: 'close', code, reason: fitCloseReason(reason) });

  /** Closes a connection the server will not serve now; 1013 tells the client to come back later. */
  const refuse = (client: Client, reason: string) => closeAndReap(client, SyncCloseCode.TRY_AGAIN_LATER, reason);

  const accept = (ws: WebSocket, req: IncomingMessage) => {
    // Per-address limits count per IPv4 address or IPv6 /64 (one host is given a whole /64).
    const address = addressGroup(clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], opts.trustProxy));
    const client: Client = {
      ws,
      address,
      counted: false,
      helloTimer: undefined,
      holdTimer: undefined,
      closeTimer: undefined,
      alive: true,
      held: null,
      heldBytes: 0,
      pendingFrames: 0,
      written: () => {
        client.pendingFrames--;
      },
      stallTimer: undefined,
    };
    clients.add(client);
    let session: ReturnType<SyncServer['connect']> | undefined;
    let ticket: AuthTicket | undefined;
    ws.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') stats.oversizedFrames++;
      // Otherwise ws closes the socket itself (1002, 1007, ...); 'close' follows.
    });
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('close', () => {
      clients.delete(client);
      clearTimeout(client.stallTimer);
      release(client);
      if (ticket !== undefined) throttle.settle(ticket, null); // no-op once the token was judged
      session?.closed();
    });

    const origin = req.headers.origin;
    if (judgeOrigin(origin, req.headers.host, wsNames, opts.allowedOrigins) === 'refused') {
      stats.originFailures++;
      return closeAndReap(client, SyncCloseCode.FORBIDDEN, `origin ${origin} is not allowed`);
    }

    if (admitted >= opts.maxConnections) {
      stats.connectionsRefused++;
      return refuse(client, `server at its limit of ${opts.maxConnections} connections; try again later`);
    }
    const fromAddress = perAddress.get(address) ?? 0;
    if (fromAddress >= opts.maxConnectionsPerAddress) {
      stats.connectionsRefused++;
      return refuse(client, `too many connections from ${address} (limit ${opts.maxConnectionsPerAddress}); try again later`);
    }
    client.counted = true;
    admitted++;
    perAddress.set(address, fromAddress + 1);

    let waitMs = 0;
    if (opts.token !== undefined) {
      const admission = throttle.admit(address);
      if (!admission.admitted) {
        stats.authThrottled++;
        return refuse(client, `too many failed authentications from ${address}; retry in ${Math.ceil(admission.retryAfterMs / 1000)} s`);
      }
      ticket = admission.ticket;
      waitMs = ticket.waitMs;
    }

    client.helloTimer = clock.setTimeout(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      stats.helloTimeouts++;
      closeAndReap(client, SyncCloseCode.TRY_AGAIN_LATER, `expected the statesocket sync protocol's hello within ${opts.helloTimeoutMs} ms`);
    }, waitMs + opts.helloTimeoutMs);

    const peer: Peer = {
      send: (frame) => transmit(client, { kind: 'frame', data: shared(frame) }),
      close: (code, reason) => transmit(client, { kind: 'close', code, reason: fitCloseReason(reason) }),
      get bufferedAmount() {
        // ws counts only the bytes; each queued frame also holds buffers and a write request.
        return ws.bufferedAmount + client.pendingFrames * SERVER_LIMITS.frameOverheadBytes + client.heldBytes;
      },
    };
    const deliver = (data: RawData, isBinary: boolean) => {
      try {
        session?.receive(frameInput(data, isBinary));
      } catch {
        // The core answers every frame itself (a failed write closes with 1011 there); a throw here
        // is a bug. It is not the op's fault: no error frame with its id, close with 1011 so the
        // client sends the op again.
        transmit(client, { kind: 'close', code: SyncCloseCode.INTERNAL_ERROR, reason: 'internal error' });
      }
    };
    const early: Array<[RawData, boolean]> = [];
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (session !== undefined) return deliver(data, isBinary);
      // ws may still emit frames it had buffered when the hold paused it.
      early.push([data, isBinary]);
      if (early.length > maxEarlyFrames) ws.terminate();
    });

    const urlToken = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
    const start = () => {
      client.holdTimer = undefined;
      if (ws.readyState !== WebSocket.OPEN) return;
      session = core.connect(peer, {
        urlToken,
        owner: address,
        onAuthenticated: (ok) => {
          if (ticket !== undefined) throttle.settle(ticket, ok);
        },
        onGreeted: () => {
          clock.clearTimeout(client.helloTimer);
          client.helloTimer = undefined;
        },
      });
      for (const [data, isBinary] of early.splice(0)) deliver(data, isBinary);
      if (waitMs > 0 && client.held === null) ws.resume(); // a stall that began meanwhile keeps it paused
    };
    if (waitMs === 0) return start();
    // Held: nothing is read (so the token is not judged) until this address's turn.
    stats.authHeld++;
    ws.pause();
    client.holdTimer = clock.setTimeout(start, waitMs);
  };

  // ── HTTP: control routes, the static hook, upgrades ──
  const reply = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': String(Buffer.byteLength(payload)),
      ...headers,
    });
    res.end(payload);
  };

  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > SERVER_LIMITS.maxControlBodyBytes) {
          reject(new ControlError(413, `the body is over ${SERVER_LIMITS.maxControlBodyBytes} bytes`));
          req.resume();
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  const intParam = (query: URLSearchParams, name: string, fallback: number, min: number, max: number): number => {
    const raw = query.get(name);
    if (raw === null) return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(value >= min && value <= max)) {
      throw new ControlError(400, `${name} must be a whole number from ${min} to ${max}; received ${JSON.stringify(raw)}`);
    }
    return value;
  };

  const openClients = () => [...clients].filter((client) => client.ws.readyState === WebSocket.OPEN);

  const countFault = (kind: Exclude<keyof FaultCounters, 'total'>) => {
    faults[kind]++;
    faults.total++;
  };

  const terminateAll = () => {
    for (const client of clients) client.ws.terminate();
  };

  const resume = (client: Client) => {
    clearTimeout(client.stallTimer);
    client.stallTimer = undefined;
    const held = client.held;
    if (held === null) return;
    client.held = null;
    client.heldBytes = 0;
    client.alive = true; // its pongs could not be read while stalled
    client.ws.resume();
    for (const item of held) transmit(client, item);
  };

  type Action = (query: URLSearchParams, req: IncomingMessage) => Promise<Record<string, unknown>> | Record<string, unknown>;
  const postActions: Record<string, Action> = {
    drop: () => {
      const sockets = clients.size;
      countFault('drop');
      terminateAll();
      return { sockets };
    },
    close: (query) => {
      const rawCode = query.get('code') ?? '1000';
      const reason = query.get('reason') ?? '';
      let code: number | undefined;
      if (rawCode === 'none') {
        if (reason !== '') throw new ControlError(400, 'a close frame without a code cannot carry a reason; drop reason or give a code');
      } else {
        code = /^\d+$/.test(rawCode) ? Number(rawCode) : NaN;
        if (!isServerSendableCloseCode(code)) {
          throw new ControlError(
            400,
            `code must be one a server may send (1000-1003, 1007-1014, 3000-4999) or "none"; received ${JSON.stringify(rawCode)}` +
              (code === 1005 ? ' (1005 is what the client reports for code=none)' : code === 1006 ? ' (use /control/drop for 1006)' : ''),
          );
        }
      }
      if (Buffer.byteLength(reason) > SERVER_LIMITS.maxCloseReasonBytes) {
        throw new ControlError(400, `reason must be at most ${SERVER_LIMITS.maxCloseReasonBytes} UTF-8 bytes; received ${Buffer.byteLength(reason)}`);
      }
      const targets = openClients();
      countFault('close');
      for (const client of targets) transmit(client, { kind: 'close', code, reason });
      return { sockets: targets.length, code: code ?? null, reason };
    },
    stall: (query) => {
      const ms = intParam(query, 'ms', SERVER_LIMITS.defaultStallMs, 1, SERVER_LIMITS.maxStallMs);
      const targets = openClients();
      countFault('stall');
      for (const client of targets) {
        client.held ??= [];
        client.ws.pause();
        clearTimeout(client.stallTimer);
        client.stallTimer = setTimeout(() => resume(client), ms);
      }
      return { sockets: targets.length, ms };
    },
    garbage: () => {
      const targets = openClients();
      countFault('garbage');
      for (const client of targets) transmit(client, { kind: 'frame', data: '{"type":"patch",' });
      return { sockets: targets.length };
    },
    oversized: (query) => {
      const shell = '{"type":"oversized","pad":""}';
      const bytes = intParam(query, 'bytes', SERVER_LIMITS.defaultOversizedBytes, shell.length, SERVER_LIMITS.maxOversizedBytes);
      const frame = `${shell.slice(0, -2)}${'x'.repeat(bytes - shell.length)}"}`;
      const targets = openClients();
      countFault('oversized');
      for (const client of targets) transmit(client, { kind: 'frame', data: frame });
      return { sockets: targets.length, bytes };
    },
    restart: () => {
      const sockets = clients.size;
      countFault('restart');
      core.restart();
      terminateAll();
      return { sockets, epoch: core.epoch };
    },
    change: async (_query, req) => {
      const body = await readBody(req);
      let value: unknown;
      try {
        value = JSON.parse(body);
      } catch (error) {
        throw new ControlError(400, `the body must be JSON {"set"?: {...}, "delete"?: [...]}: ${(error as Error).message}`);
      }
      // The same rule as ops (src/sync/values.ts), with the same message: core.change checks it.
      try {
        const patch = core.change(value as Changes);
        return { epoch: patch.epoch, seq: patch.seq };
      } catch (error) {
        if (error instanceof ChangeRefusedError) throw new ControlError(400, `${error.code}: ${error.message}`);
        throw error;
      }
    },
  };

  /** The control routes answer only loopback names, whatever the server listens on. */
  const controlNames = serverNames('127.0.0.1');
  const NO_ORIGINS: ReadonlySet<string> = new Set();

  const stateOf = () => ({ epoch: core.epoch, seq: core.seq, data: core.data(), counters: snapshotStats() });

  /**
   * Who may use the control routes, checked in this order (issue 11, item 6):
   * a loopback peer; a loopback `Host` (a DNS-rebinding page sends its own name);
   * no cross-origin `Origin` (a page on another site); the control token, compared
   * in constant time; and, for a body, `application/json` (a plain HTML form can
   * send only urlencoded, multipart or text/plain bodies without a preflight).
   * Returns the refusal to send, or null.
   */
  const refuseControl = (req: IncomingMessage): { status: number; error: string; headers?: Record<string, string> } | null => {
    // Behind a trusted proxy on this machine, the peer is loopback whoever the client is.
    const from = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], opts.trustProxy);
    if (!isLoopbackAddress(from)) {
      return { status: 403, error: `control routes answer loopback addresses only; this request came from ${from}` };
    }
    const host = parseHost(req.headers.host);
    if (host === null || !isLoopbackName(host.name)) {
      return { status: 421, error: `control routes answer a loopback Host (localhost, 127.0.0.1, [::1]) only; received Host ${JSON.stringify(req.headers.host ?? null)}` };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && judgeOrigin(origin, req.headers.host, controlNames, NO_ORIGINS) !== 'own') {
      return { status: 403, error: `control routes refuse cross-origin requests; received Origin ${JSON.stringify(origin)}` };
    }
    const presented = bearerToken(req.headers.authorization);
    if (presented === null || !tokensEqual(presented, opts.controlToken)) {
      return {
        status: 401,
        error: `control routes need "Authorization: Bearer <control token>" (--control-token, or the one printed at start)${presented === null ? '' : '; the token is wrong'}`,
        headers: { 'www-authenticate': 'Bearer realm="statesocket control"' },
      };
    }
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && !isJsonContentType(req.headers['content-type'])) {
      return { status: 415, error: `control request bodies must be application/json; received ${JSON.stringify(req.headers['content-type'] ?? null)}` };
    }
    return null;
  };

  const control = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const refusal = refuseControl(req);
    if (refusal !== null) {
      stats.controlRefusals++;
      // The body is not read: close the connection rather than leave it half consumed.
      return reply(res, refusal.status, { ok: false, error: refusal.error }, { ...refusal.headers, connection: 'close' });
    }
    const action = url.pathname.slice('/control/'.length);
    if (action === 'state') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { ok: false, error: 'use GET /control/state' }, { allow: 'GET, HEAD' });
      return reply(res, 200, { ok: true, ...stateOf() });
    }
    const run = Object.hasOwn(postActions, action) ? postActions[action] : undefined;
    if (run === undefined) {
      return reply(res, 404, {
        ok: false,
        error: `unknown control route ${url.pathname}; POST ${Object.keys(postActions).map((a) => `/control/${a}`).join(', ')} or GET /control/state`,
      });
    }
    if (req.method !== 'POST') return reply(res, 405, { ok: false, error: `use POST /control/${action}` }, { allow: 'POST' });
    try {
      const result = await run(url.searchParams, req);
      reply(res, 200, { ok: true, action, ...result });
    } catch (error) {
      if (error instanceof ControlError) return reply(res, error.status, { ok: false, action, error: error.message });
      reply(res, 500, { ok: false, action, error: (error as Error).message });
    }
  };

  // Headers and the whole request within the hello deadline (floored: Node checks on the wall
  // clock, every connectionsCheckingInterval): hostile review a4 held 2,000 half-sent upgrade
  // requests for Node's default 60 s.
  const httpTimeoutMs = Math.max(opts.helloTimeoutMs, SERVER_LIMITS.minHttpTimeoutMs);
  const server = createServer({ connectionsCheckingInterval: SERVER_LIMITS.httpCheckIntervalMs }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/control/')) {
      control(req, res, url).catch((error: unknown) => {
        if (!res.headersSent) reply(res, 500, { ok: false, error: (error as Error).message });
      });
      return;
    }
    try {
      if (opts.staticHandler?.(req, res) === true) return;
    } catch (error) {
      if (!res.headersSent) reply(res, 500, { ok: false, error: (error as Error).message });
      return;
    }
    reply(res, 404, { ok: false, error: `no route for ${req.method} ${url.pathname}` });
  });

  server.headersTimeout = httpTimeoutMs;
  server.requestTimeout = httpTimeoutMs;

  // ── sockets before the upgrade: counted apart from WebSockets, under the same caps ──
  // Until it upgrades, a socket is not in `admitted`/`perAddress`; without this count half-sent
  // upgrade requests exhausted file descriptors past any cap (hostile review a4/a4b: 2,000 open
  // with --max-connections 5). Over a cap the socket is destroyed on arrival: nothing was read,
  // there is no one to tell. Sockets from a trusted proxy share its address: only the total counts them.
  // So at most maxConnections WebSockets plus max(maxConnections, 64) unupgraded sockets are open at once.
  const maxUnupgraded = Math.max(opts.maxConnections, SERVER_LIMITS.minUnupgradedSockets);
  const maxUnupgradedPerAddress = SERVER_LIMITS.unupgradedSocketsPerAddress;
  let unupgraded = 0;
  const unupgradedPerAddress = new Map<string, number>();
  /** Per unupgraded socket: takes it out of the counts (once; on its upgrade or its close). */
  const leaveUnupgraded = new WeakMap<object, () => void>();
  server.on('connection', (socket: Socket) => {
    const peer = normalizeAddress(socket.remoteAddress ?? 'unknown');
    const perPeer = !opts.trustProxy.has(peer);
    const address = addressGroup(peer);
    const fromAddress = perPeer ? (unupgradedPerAddress.get(address) ?? 0) : 0;
    if (unupgraded >= maxUnupgraded || fromAddress >= maxUnupgradedPerAddress) {
      stats.socketsRefused++;
      socket.destroy();
      return;
    }
    unupgraded++;
    if (perPeer) unupgradedPerAddress.set(address, fromAddress + 1);
    const leave = () => {
      if (!leaveUnupgraded.delete(socket)) return;
      unupgraded--;
      if (!perPeer) return;
      const left = (unupgradedPerAddress.get(address) ?? 1) - 1;
      if (left > 0) unupgradedPerAddress.set(address, left);
      else unupgradedPerAddress.delete(address);
    };
    leaveUnupgraded.set(socket, leave);
    socket.once('close', leave);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // From here the socket counts as a WebSocket (admitted/perAddress), not as unupgraded.
    leaveUnupgraded.get(socket)?.();
    if (closing !== undefined) {
      socket.destroy();
      return;
    }
    // Accept first, refuse after: a browser shown a rejected upgrade reports only 1006 and retries forever.
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  // ── timers: the feed and the ws-level heartbeat ──
  let feedTimer: NodeJS.Timeout | undefined;
  if (opts.feedRatePerSec > 0) {
    const tickMs = Math.max(SERVER_LIMITS.feedTickMinMs, 1000 / opts.feedRatePerSec);
    const perTick = (opts.feedRatePerSec * tickMs) / 1000;
    const prices = new Map<string, number>();
    const data = core.data();
    for (const [symbol, base] of FEED_SYMBOLS) {
      const current = data[symbol];
      prices.set(symbol, typeof current === 'number' && current > 0 ? current : base);
    }
    let due = 0;
    feedTimer = setInterval(() => {
      due += perTick;
      const count = Math.floor(due);
      due -= count;
      inFeed = true;
      try {
        for (let i = 0; i < count; i++) {
          const [symbol] = FEED_SYMBOLS[Math.floor(opts.random() * FEED_SYMBOLS.length)] ?? FEED_SYMBOLS[0]!;
          const price = Number(((prices.get(symbol) ?? 1) * (1 + (opts.random() - 0.5) * 0.004)).toPrecision(6));
          try {
            core.change({ set: { [symbol]: price } });
          } catch (error) {
            // A document at maxDataBytes refuses a longer price: skip the tick (counted).
            if (!(error instanceof ChangeRefusedError)) throw error;
            stats.feedRefused++;
            continue;
          }
          prices.set(symbol, price);
          stats.feedChanges++;
        }
      } finally {
        inFeed = false;
      }
    }, tickMs);
  }

  let heartbeatTimer: NodeJS.Timeout | undefined;
  if (opts.heartbeatMs > 0) {
    heartbeatTimer = setInterval(() => {
      for (const client of clients) {
        // A stalled link cannot read its pongs: the stall decides its fate, not the heartbeat.
        if (client.held !== null || client.ws.readyState !== WebSocket.OPEN) continue;
        if (!client.alive) {
          stats.heartbeatKills++;
          client.ws.terminate();
          continue;
        }
        client.alive = false;
        client.ws.ping();
      }
    }, opts.heartbeatMs);
  }

  function snapshotStats(): ServerStats {
    let stalled = 0;
    let heldFrames = 0;
    for (const client of clients) {
      if (client.held === null) continue;
      stalled++;
      heldFrames += client.held.length;
    }
    return { ...core.counters, open: clients.size, unupgraded, stalled, heldFrames, ...stats, faults: { ...faults } };
  }

  const host = opts.host;
  return {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    host,
    controlToken: opts.controlToken,
    core,
    stats: snapshotStats,
    stopFeed() {
      clearInterval(feedTimer);
      feedTimer = undefined;
    },
    close() {
      closing ??= (async () => {
        clearInterval(feedTimer);
        clearInterval(heartbeatTimer);
        clearTimeout(persistTimer);
        for (const client of clients) {
          clearTimeout(client.stallTimer);
          release(client);
          client.ws.terminate();
        }
        if (feedDirty) persistFeed();
        wss.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Keep-alive HTTP connections (fetch keeps them) would hold close() open.
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
