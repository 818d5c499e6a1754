/**
 * The options of the Node sync server: one interface with every field's meaning, unit and
 * default, one defaults object, the fixed limits, and the validation that fills them in
 * (throwing TypeError/RangeError that names the option and the value received).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { generateToken, normalizeAddress, normalizeOrigin } from './access.js';
import { DEFAULT_AUTH_THROTTLE, type AuthThrottleOptions } from './auth-throttle.js';
import { describeValue } from '../options.js';
import { redactUrl } from '../redact.js';
import { DEFAULT_VALUE_LIMITS } from '../sync/values.js';
import { DEFAULT_CHANNEL, DEFAULT_V2_LIMITS, NAME_RULE, isChannelName } from '../sync/messages-v2.js';
import { aclHooks, parseAcl, readAclFile, type Acl } from './acl.js';
import type { AuthorizeRequest, Identity } from './session.js';
import { refuseEngineOwnedOptions, type Engine } from './engine.js';
import { MAX_PREFIX_LENGTH, checkPrefix } from './redis-prefix.js';
import { DEFAULT_DEDUP_RETENTION_MS, DEFAULT_MAX_CLIENT_IDS, DEFAULT_MAX_DATA_BYTES, DEFAULT_MAX_STORED_CHANNELS, type SyncServerOptions } from './sync-server.js';

/** The limits and times of channels (protocol version 2): the same options as `createSyncServer`'s. */
type ChannelOptions = Pick<
  SyncServerOptions,
  | 'maxChannelsPerConnection'
  | 'maxChannelsInMemory'
  | 'maxStoredChannels'
  | 'maxSubscribesPerMinute'
  | 'maxClientsPerChannel'
  | 'markRetentionMs'
  | 'maxRefusalsPerClient'
  | 'maxClientIds'
  | 'presenceGraceMs'
  | 'refreshBeforeMs'
  | 'channelIdleMs'
>;

export interface NodeServerOptions extends ChannelOptions {
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
   * one more closes it with 1013. Version 2 `auth` frames count apart under the same bound. Timed by `clock`.
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
   * Turns on the fault-injection routes of the test bench, `/control/<fault>` (see docs/server.md):
   * `startSyncServer` answers them on its port; with `attachSyncServer`, your request handler
   * passes requests to `handle.handleControl(req, res)`. Off, nothing answers `/control/`.
   * @default false (true when `controlToken` is given; always on for the deprecated `startServer`)
   */
  control?: boolean;
  /**
   * Secret for the `/control/` routes, sent as `Authorization: Bearer <controlToken>`. Separate from
   * `token`: whoever may sync may not necessarily inject faults or rewrite the data.
   * Read it back from `RunningServer.controlToken`. Giving it turns `control` on. At least
   * `SERVER_LIMITS.minControlTokenLength` (16) characters.
   * @default a new random token (24 bytes, 48 hex digits) at every start, when `control` is on
   */
  controlToken?: string;
  /**
   * The URL path WebSocket upgrades are accepted on (the query string is ignored); one sync server
   * per path of an HTTP server (`attachSyncServer` throws for a path already served). An upgrade
   * for a path no sync server serves is left to the HTTP server's other `upgrade` listeners (and
   * destroyed if none of them answered it within `helloTimeoutMs`), or answered 404 when there is none.
   * @default '/' for `attachSyncServer`; every path for `startSyncServer`, which owns its HTTP server
   */
  path?: string;
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
   * Keep channels, logs, op marks and presence in Redis, shared by every instance started with the
   * same `url` and `prefix`, so that clients of one instance can resume on another (docs/deploy.md).
   * `url`: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. `prefix`: put before
   * every key, for several deployments on one Redis. Not with `dataFile`: Redis keeps the data.
   * @default none (the memory engine: the state lives in this process, and in `dataFile` when given)
   */
  redis?: RedisServerOptions;
  /**
   * Where channels, marks, records, client ids' users and presence live (src/server/engine.ts,
   * docs/server.md "Engines"): several instances on one shared engine serve the same channels.
   * Not with `dataFile` (the memory engine's persistence). The server does not close it. The
   * options that are the engine's own (`dedupSize`, `dedupRetentionMs`, `maxClientsPerChannel`,
   * `markRetentionMs`, `maxRefusalsPerClient`, `maxClientIds`, `maxStoredChannels`) are refused
   * with it (`TypeError` naming the option): give them to the engine.
   * @default memoryEngine() (with `dataFile`, when given)
   */
  engine?: Engine;
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
   * Users and permissions from an ACL (docs/protocol.md, appendix): a file path, or the ACL as
   * an object. Tokens name users (4401 for one not listed, 4419 past its `expiresAt`); channel
   * patterns say who may subscribe, publish and use presence. Checked at start: a problem throws
   * `AclError` naming the field (and the file's line). Not with `token`, `authenticate` or `authorize`.
   * @default none
   */
  acl?: string | Acl;
  /**
   * Per-user tokens, your way: who a token names (see `SyncServerOptions.authenticate`). Not with `token` or `acl`.
   * @default none
   */
  authenticate?: (token: string) => Identity | null;
  /**
   * Whether a user may subscribe, publish or use presence on a channel (see `SyncServerOptions.authorize`). Not with `acl`.
   * @default everything is allowed
   */
  authorize?: (request: AuthorizeRequest) => boolean;
  /**
   * The channel the live feed (`feedRatePerSec`) changes.
   * @default 'default'
   */
  feedChannel?: string;
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

/** Where a Redis-backed server keeps its state (`NodeServerOptions.redis`). */
export interface RedisServerOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://...` */
  url: string;
  /** Put before every key: printable ASCII without spaces or braces, at most `SERVER_LIMITS.maxRedisPrefixLength` characters. @default the engine's */
  prefix?: string;
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
  maxChannelsPerConnection: DEFAULT_V2_LIMITS.maxChannelsPerConnection,
  maxChannelsInMemory: DEFAULT_V2_LIMITS.maxChannelsInMemory,
  maxStoredChannels: DEFAULT_MAX_STORED_CHANNELS,
  maxSubscribesPerMinute: DEFAULT_V2_LIMITS.maxSubscribesPerMinute,
  maxClientsPerChannel: DEFAULT_V2_LIMITS.maxClientsPerChannel,
  markRetentionMs: DEFAULT_V2_LIMITS.markRetentionMs,
  maxRefusalsPerClient: DEFAULT_V2_LIMITS.maxRefusalsPerClient,
  maxClientIds: DEFAULT_MAX_CLIENT_IDS,
  presenceGraceMs: DEFAULT_V2_LIMITS.presenceGraceMs,
  refreshBeforeMs: DEFAULT_V2_LIMITS.refreshBeforeMs,
  channelIdleMs: DEFAULT_V2_LIMITS.channelIdleMs,
  feedChannel: DEFAULT_CHANNEL,
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
  /**
   * Shortest `controlToken` accepted: the control routes can rewrite every client's data, and a
   * short token is guessed (the generated one has 48 hex digits; `openssl rand -hex 16` gives 32).
   */
  minControlTokenLength: 16,
  maxRedisPrefixLength: MAX_PREFIX_LENGTH,
} as const;

export interface ResolvedServerOptions {
  host: string;
  maxChannelsPerConnection: number;
  maxChannelsInMemory: number;
  maxStoredChannels: number;
  maxSubscribesPerMinute: number;
  maxClientsPerChannel: number;
  markRetentionMs: number;
  maxRefusalsPerClient: number;
  maxClientIds: number;
  presenceGraceMs: number;
  refreshBeforeMs: number;
  channelIdleMs: number;
  feedChannel: string;
  authenticate: ((token: string) => Identity | null) | undefined;
  authorize: ((request: AuthorizeRequest) => boolean) | undefined;
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
  control: boolean;
  /** Set exactly when `control` is on. */
  controlToken: string | undefined;
  /** Undefined: every path. */
  path: string | undefined;
  allowedOrigins: ReadonlySet<string>;
  maxBufferedBytes: number;
  maxValueDepth: number;
  maxOpBytes: number;
  maxDataBytes: number;
  dataFile: string | undefined;
  /** Set: the Redis engine (with the prefix given, if any); unset: the memory engine. */
  redis: { url: string; prefix: string | undefined } | undefined;
  engine: Engine | undefined;
  random: () => number;
  staticHandler: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
}


/** `engine`: an object with the engine's methods; never with `dataFile` (that is the memory engine's). */
function engineOption(options: NodeServerOptions): Engine | undefined {
  const engine = options.engine;
  if (engine === undefined) return undefined;
  if (typeof engine !== 'object' || engine === null || typeof (engine as Partial<Engine>).append !== 'function' || typeof (engine as Partial<Engine>).follow !== 'function') {
    throw new TypeError(`engine must be an engine (memoryEngine(), redisEngine(...)); received ${describeValue(engine)}`);
  }
  if (options.redis !== undefined) {
    throw new TypeError('give engine or redis, not both: redis builds the Redis engine for you (or pass engine: redisEngine(...) from statesocket/server/redis)');
  }
  if (options.dataFile !== undefined) {
    throw new TypeError('give engine or dataFile, not both: the data file is the memory engine\'s; an engine of your own keeps its state itself');
  }
  refuseEngineOwnedOptions(undefined, options); // resolveServerOptions names the caller
  return engine;
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number; received ${describeValue(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a whole number from ${min} to ${max}; received ${describeValue(value)}`);
  }
  return value;
}

function text(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string; received ${describeValue(value)}`);
  if (value === '') throw new RangeError(`${name} must not be empty; leave it out instead`);
  return value;
}

function origins(name: string, value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw new TypeError(`${name} must be an array of origins; received ${describeValue(value)}`);
  }
  return new Set(value.map((entry: string) => normalizeOrigin(entry, name)));
}

function addresses(name: string, value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw new TypeError(`${name} must be an array of IP addresses; received ${describeValue(value)}`);
  }
  for (const entry of value as string[]) {
    if (isIP(entry.trim()) === 0) throw new RangeError(`${name} entries must be IP addresses; received ${JSON.stringify(entry)}`);
  }
  return new Set((value as string[]).map(normalizeAddress));
}

function throttle(name: string, value: unknown): Required<AuthThrottleOptions> {
  if (value === undefined) return { ...DEFAULT_AUTH_THROTTLE };
  if (typeof value !== 'object' || value === null) throw new TypeError(`${name} must be an object; received ${describeValue(value)}`);
  const given = value as AuthThrottleOptions;
  const t = DEFAULT_AUTH_THROTTLE;
  for (const key of Object.keys(given)) {
    if (!(key in t)) throw new TypeError(`unknown option ${name}.${key}; it takes ${Object.keys(t).join(', ')}`);
  }
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
    throw new TypeError(`${name} must have now(), setTimeout() and clearTimeout(); received ${describeValue(value)}`);
  }
  return given as ServerClock;
}

/** `acl`, or `authenticate` and `authorize`, as the core's hooks. */
function access(options: NodeServerOptions): { authenticate: ResolvedServerOptions['authenticate']; authorize: ResolvedServerOptions['authorize'] } {
  const authenticate = fn<(token: string) => Identity | null>('authenticate', options.authenticate);
  const authorize = fn<(request: AuthorizeRequest) => boolean>('authorize', options.authorize);
  if (options.acl === undefined) {
    if (authenticate !== undefined && options.token !== undefined) throw new TypeError('give token or authenticate, not both');
    return { authenticate, authorize };
  }
  if (authenticate !== undefined || authorize !== undefined) throw new TypeError('give acl, or authenticate and authorize, not both');
  if (options.token !== undefined) throw new TypeError('give acl or token, not both: the ACL lists the tokens');
  if (typeof options.acl !== 'string' && (typeof options.acl !== 'object' || options.acl === null)) {
    throw new TypeError(`acl must be a file path or an ACL object; received ${describeValue(options.acl)}`);
  }
  const acl = typeof options.acl === 'string' ? readAclFile(options.acl) : parseAcl(options.acl);
  return aclHooks(acl);
}

function channelName(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string; received ${describeValue(value)}`);
  if (!isChannelName(value)) throw new RangeError(`${name} must be a channel name (${NAME_RULE}); received ${JSON.stringify(String(value).slice(0, 140))}`);
  return value;
}

function fn<F>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function; received ${describeValue(value)}`);
  return value as F;
}

function path(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string; received ${describeValue(value)}`);
  if (!/^\/[^?#\s]*$/.test(value)) throw new RangeError(`${name} must start with "/" and hold no query, fragment or space; received ${JSON.stringify(value)}`);
  return value;
}

function redis(name: string, value: unknown, dataFile: string | undefined): ResolvedServerOptions['redis'] {
  if (value === undefined) return undefined;
  const given = value as Partial<RedisServerOptions> | null;
  if (typeof given !== 'object' || given === null) throw new TypeError(`${name} must be an object { url, prefix? }; received ${describeValue(value)}`);
  for (const key of Object.keys(given)) {
    if (key !== 'url' && key !== 'prefix') throw new TypeError(`unknown option ${name}.${key}; it takes url, prefix`);
  }
  if (typeof given.url !== 'string') throw new TypeError(`${name}.url must be a string; received ${describeValue(given.url)}`);
  let url: URL | undefined;
  try {
    url = new URL(given.url);
  } catch {
    // reported below
  }
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '' || !/^(\/\d*)?$/.test(url.pathname) || url.hash !== '') {
    const received = url === undefined ? 'something that is not a URL' : JSON.stringify(redactUrl(given.url));
    throw new RangeError(`${name}.url must be redis://[user:password@]host[:port][/db] (or rediss:// for TLS); received ${received}`);
  }
  const prefix = given.prefix === undefined ? undefined : checkPrefix(`${name}.prefix`, given.prefix);
  if (dataFile !== undefined) throw new TypeError('give redis or dataFile, not both: with redis, Redis keeps the data');
  return { url: given.url, prefix };
}

function control(options: NodeServerOptions): { control: boolean; controlToken: string | undefined } {
  const token = text('controlToken', options.controlToken);
  if (token !== undefined && token.length < SERVER_LIMITS.minControlTokenLength) {
    throw new RangeError(
      `controlToken must be at least ${SERVER_LIMITS.minControlTokenLength} characters, to be a secret nobody guesses; ` +
        `received ${token.length}. Leave it out for a generated one, or use e.g. \`openssl rand -hex 16\``,
    );
  }
  if (options.control !== undefined && typeof options.control !== 'boolean') {
    throw new TypeError(`control must be a boolean; received ${describeValue(options.control)}`);
  }
  const on = options.control ?? token !== undefined;
  if (!on && token !== undefined) throw new RangeError('controlToken needs control: true; leave out one or the other');
  return { control: on, controlToken: on ? (token ?? generateToken()) : undefined };
}

/**
 * Validates the options and fills in the defaults; throws TypeError/RangeError naming the
 * function called (`caller`), the option and the value.
 */
export function resolveServerOptions(options: NodeServerOptions, caller = 'startSyncServer'): ResolvedServerOptions {
  try {
    return resolve(options);
  } catch (error) {
    if (error instanceof RangeError) throw new RangeError(`${caller}: ${error.message}`);
    if (error instanceof TypeError) throw new TypeError(`${caller}: ${error.message}`);
    throw error;
  }
}

/**
 * Every option's name: the compiler checks this list against `NodeServerOptions`, so an option
 * added there without being added here fails the type check instead of being refused at run time.
 */
const KNOWN_OPTIONS = new Set(
  Object.keys({
    host: true, port: true, feedRatePerSec: true, logSize: true, dedupSize: true, dedupRetentionMs: true,
    maxHellosPerMinute: true, maxPayloadBytes: true, heartbeatMs: true, token: true, control: true,
    controlToken: true, path: true, allowedOrigins: true, maxBufferedBytes: true, maxValueDepth: true,
    maxOpBytes: true, maxDataBytes: true, dataFile: true, engine: true, helloTimeoutMs: true, maxConnections: true,
    maxConnectionsPerAddress: true, trustProxy: true, authThrottle: true, acl: true, authenticate: true, authorize: true,
    maxChannelsPerConnection: true, maxChannelsInMemory: true, maxStoredChannels: true, maxSubscribesPerMinute: true, maxClientsPerChannel: true,
    markRetentionMs: true, maxRefusalsPerClient: true, maxClientIds: true, presenceGraceMs: true, refreshBeforeMs: true, channelIdleMs: true,
    feedChannel: true, clock: true, random: true, staticHandler: true, redis: true,
  } satisfies Record<keyof NodeServerOptions, true>),
);

function resolve(options: NodeServerOptions): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options must be an object; received ${describeValue(options)}`);
  }
  // A misspelt option would otherwise leave its default in force without a word (hostile review 12, item 14).
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new TypeError(`unknown option ${key}; see NodeServerOptions (docs/server.md#options)`);
  }
  const d = DEFAULT_SERVER_OPTIONS;
  const feedRatePerSec = options.feedRatePerSec ?? d.feedRatePerSec;
  if (typeof feedRatePerSec !== 'number') {
    throw new TypeError(`feedRatePerSec must be a number; received ${describeValue(feedRatePerSec)}`);
  }
  if (!Number.isFinite(feedRatePerSec) || feedRatePerSec < 0 || feedRatePerSec > SERVER_LIMITS.maxFeedRatePerSec) {
    throw new RangeError(
      `feedRatePerSec must be from 0 to ${SERVER_LIMITS.maxFeedRatePerSec}; received ${describeValue(feedRatePerSec)}`,
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
    maxChannelsPerConnection: integer('maxChannelsPerConnection', options.maxChannelsPerConnection, d.maxChannelsPerConnection, 1, 10_000_000),
    maxChannelsInMemory: integer('maxChannelsInMemory', options.maxChannelsInMemory, d.maxChannelsInMemory, 1, 100_000_000),
    maxStoredChannels: integer('maxStoredChannels', options.maxStoredChannels, d.maxStoredChannels, 0, 100_000_000),
    maxSubscribesPerMinute: integer('maxSubscribesPerMinute', options.maxSubscribesPerMinute, d.maxSubscribesPerMinute, 1, 10_000_000),
    maxClientsPerChannel: integer('maxClientsPerChannel', options.maxClientsPerChannel, d.maxClientsPerChannel, 1, 10_000_000),
    markRetentionMs: integer('markRetentionMs', options.markRetentionMs, d.markRetentionMs, 1, Number.MAX_SAFE_INTEGER),
    maxRefusalsPerClient: integer('maxRefusalsPerClient', options.maxRefusalsPerClient, d.maxRefusalsPerClient, 1, 10_000_000),
    maxClientIds: integer('maxClientIds', options.maxClientIds, d.maxClientIds, 1, 100_000_000),
    presenceGraceMs: integer('presenceGraceMs', options.presenceGraceMs, d.presenceGraceMs, 0, 2 ** 31 - 1),
    refreshBeforeMs: integer('refreshBeforeMs', options.refreshBeforeMs, d.refreshBeforeMs, 0, 2 ** 31 - 1),
    channelIdleMs: integer('channelIdleMs', options.channelIdleMs, d.channelIdleMs, 1, 2 ** 31 - 1),
    feedChannel: channelName('feedChannel', options.feedChannel) ?? d.feedChannel,
    ...access(options),
    trustProxy: addresses('trustProxy', options.trustProxy),
    authThrottle: throttle('authThrottle', options.authThrottle),
    clock: clock('clock', options.clock),
    token: text('token', options.token),
    ...control(options),
    path: path('path', options.path),
    allowedOrigins: origins('allowedOrigins', options.allowedOrigins),
    maxBufferedBytes: integer('maxBufferedBytes', options.maxBufferedBytes, d.maxBufferedBytes, 1, Number.MAX_SAFE_INTEGER),
    // Past a few thousand, JSON.stringify itself runs out of stack on the value.
    maxValueDepth: integer('maxValueDepth', options.maxValueDepth, d.maxValueDepth, 1, 1_000),
    maxOpBytes: integer('maxOpBytes', options.maxOpBytes, d.maxOpBytes, 2, 2 ** 31 - 1),
    maxDataBytes: integer('maxDataBytes', options.maxDataBytes, d.maxDataBytes, 2, Number.MAX_SAFE_INTEGER),
    dataFile: text('dataFile', options.dataFile),
    redis: redis('redis', options.redis, options.dataFile),
    engine: engineOption(options),
    random: fn<() => number>('random', options.random) ?? Math.random,
    staticHandler: fn<(req: IncomingMessage, res: ServerResponse) => boolean>('staticHandler', options.staticHandler),
  };
}

