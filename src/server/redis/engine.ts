/**
 * `redisEngine()`: the engine (../engine.ts) on Redis, for several server instances sharing one
 * ordered, durable log per channel (issue 14; docs/scaling.md describes every key and script).
 *
 * ```
 *   append ──EVALSHA APPEND (one round trip)──▶ Redis: mark check, size limit, seq, HSET/HDEL document,
 *                                               XADD log <seq>-0 MAXLEN ~ logSize, mark, PUBLISH
 *   every instance's pub/sub connection ◀── PUBLISH `e|epoch|seq|change` ── followers (follower.ts)
 * ```
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Changes } from '../../sync/messages.js';
import { DEFAULT_CHANNEL, DEFAULT_V2_LIMITS } from '../../sync/messages-v2.js';
import type { Json } from '../../store.js';
import {
  EngineUnavailableError,
  type AppendResult,
  type ChannelEntry,
  type ChannelListener,
  type ChannelState,
  type DocumentLimit,
  type DuplicateAnswer,
  type Engine,
  type EngineMember,
  type EngineStatus,
  type Following,
  type OpMark,
  type RefuseResult,
  type V1Op,
} from '../engine.js';
import { DEFAULT_DEDUP_RETENTION_MS, DEFAULT_MAX_CLIENT_IDS, DEFAULT_MAX_STORED_CHANNELS } from '../stored-state.js';
import { Connections, Script, UnexpectedReplyError, engineError, isNoScript } from './connection.js';
import { Follower, memberOf, parseNotice } from './follower.js';
import { DEFAULT_PREFIX, channelKeys, checkPrefix, channelOfNotices, globalKeys, leaseKey, orderKey, type ChannelKeys } from './keys.js';
import {
  ACKED_SCRIPT,
  APPEND_SCRIPT,
  CLAIM_SCRIPT,
  DETACH_SCRIPT,
  JOIN_SCRIPT,
  LEASE_SCRIPT,
  LEAVE_SCRIPT,
  LOAD_SCRIPT,
  PEEK_SCRIPT,
  READ_LOG_SCRIPT,
  REFRESH_SCRIPT,
  RELEASE_SCRIPT,
} from './scripts.js';
import { ServerLane, type LaneSender } from './server-lane.js';

export interface RedisEngineOptions {
  /** The Redis to use (`redis://[user:password@]host:port[/db]`, or `rediss://` for TLS); undefined: the default (so `process.env.REDIS_URL` can be passed as it is). @default 'redis://127.0.0.1:6379' */
  url?: string | undefined;
  /** Prepended to every key, so several deployments (or tests) share one Redis. @default 'statesocket:' */
  prefix?: string;
  /** Entries kept in a channel's log (its stream, trimmed with `MAXLEN ~`). @default 1000 */
  logSize?: number;
  /** A channel that stores nothing (no data, no marks) leaves Redis this long after its last use. @default 300000 */
  channelIdleMs?: number;
  /** @default 10000 (docs/protocol.md, "Bounds and eviction") */
  maxClientsPerChannel?: number;
  /** @default 604800000 (7 days) */
  markRetentionMs?: number;
  /** @default 1000 */
  maxRefusalsPerClient?: number;
  /** Channels that store data or marks (`default` aside); an op that would store one more gets `full`. @default 100000 */
  maxStoredChannels?: number;
  /** Client ids whose user is remembered. @default 100000 */
  maxClientIds?: number;
  /** Version 1 op ids remembered. @default 10000 */
  dedupSize?: number;
  /** Version 1 op ids are kept at least this long. @default 60000 */
  dedupRetentionMs?: number;
  /** A presence member held by a live instance is refreshed every third of this; a dead instance's members leave after it. @default 5000 */
  presenceTtlMs?: number;
  /** A command not answered within this fails with `EngineUnavailableError`. @default 2000 */
  commandTimeoutMs?: number;
  /** How often the engine pings Redis to notice an outage that closes no connection. @default 1000 */
  heartbeatMs?: number;
  /** Connection errors (reported once per outage), and Redis's error replies (`WRONGTYPE`…: once per distinct message). @default console.error of the message */
  onError?: (error: Error) => void;
  /** Counts marks forgotten by this instance's steps (retention or the bound): the server passes its counters. */
  counters?: { marksForgotten: number };
}

/** Distinct Redis error replies remembered as reported (`onError` once each). */
const MAX_REPORTED_REPLIES = 100;

export const DEFAULT_REDIS_ENGINE_OPTIONS = {
  url: 'redis://127.0.0.1:6379',
  prefix: DEFAULT_PREFIX,
  logSize: 1000,
  channelIdleMs: DEFAULT_V2_LIMITS.channelIdleMs,
  maxClientsPerChannel: DEFAULT_V2_LIMITS.maxClientsPerChannel,
  markRetentionMs: DEFAULT_V2_LIMITS.markRetentionMs,
  maxRefusalsPerClient: DEFAULT_V2_LIMITS.maxRefusalsPerClient,
  maxStoredChannels: DEFAULT_MAX_STORED_CHANNELS,
  maxClientIds: DEFAULT_MAX_CLIENT_IDS,
  dedupSize: 10_000,
  dedupRetentionMs: DEFAULT_DEDUP_RETENTION_MS,
  presenceTtlMs: DEFAULT_V2_LIMITS.presenceGraceMs,
  commandTimeoutMs: 2000,
  heartbeatMs: 1000,
} as const;

/** The engine on Redis, with what a Redis deployment adds: readiness and its connections for diagnostics. */
export interface RedisEngine extends Engine {
  /** Resolves once Redis answers; rejects after `timeoutMs` (default 5000) saying how to start one. */
  ready(timeoutMs?: number): Promise<void>;
  /** `available` while both connections work and Redis answers the heartbeat. */
  readonly status: EngineStatus;
  /** The command connection (for diagnostics and tests: INFO, MONITOR-free counting). */
  readonly redis: Redis;
}

const SCRIPTS = {
  load: new Script(LOAD_SCRIPT),
  peek: new Script(PEEK_SCRIPT),
  append: new Script(APPEND_SCRIPT),
  acked: new Script(ACKED_SCRIPT),
  readLog: new Script(READ_LOG_SCRIPT),
  claim: new Script(CLAIM_SCRIPT),
  join: new Script(JOIN_SCRIPT),
  leave: new Script(LEAVE_SCRIPT),
  detach: new Script(DETACH_SCRIPT),
  refresh: new Script(REFRESH_SCRIPT),
  lease: new Script(LEASE_SCRIPT),
  release: new Script(RELEASE_SCRIPT),
};

/** A grace period's sweep runs this long after it should end (Redis's clock and ours differ a little). */
const SWEEP_SLACK_MS = 20;

/** A fresh epoch: 12 random characters (docs/protocol.md: an opaque string of 1 to 64). */
function newEpoch(): string {
  return randomBytes(9).toString('base64url');
}

function integer(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`redisEngine: ${name} must be an integer ≥ ${min}; got ${String(value)}`);
  return value;
}

/**
 * Creates the Redis engine; it connects at once and reconnects by itself. Commands issued before
 * Redis answers reject with `EngineUnavailableError`: await `ready()` first.
 *
 * @example
 * ```ts
 * import { redisEngine } from 'statesocket/server/redis';
 * const engine = redisEngine({ url: process.env.REDIS_URL, prefix: 'myapp:' });
 * await engine.ready();
 * ```
 */
export function redisEngine(options: RedisEngineOptions = {}): RedisEngine {
  const o = { ...DEFAULT_REDIS_ENGINE_OPTIONS, ...definedOnly(options) };
  if (typeof o.url !== 'string' || !/^rediss?:\/\//.test(o.url)) throw new TypeError(`redisEngine: url must be a redis:// or rediss:// URL; got ${JSON.stringify(o.url)}`);
  checkPrefix('redisEngine: prefix', o.prefix);
  integer('logSize', o.logSize, 0);
  for (const name of ['channelIdleMs', 'maxClientsPerChannel', 'markRetentionMs', 'maxRefusalsPerClient', 'maxStoredChannels', 'maxClientIds', 'dedupSize', 'presenceTtlMs', 'commandTimeoutMs', 'heartbeatMs'] as const) {
    integer(name, o[name], 1);
  }
  integer('dedupRetentionMs', o.dedupRetentionMs, 0);
  const onError = options.onError ?? ((error: Error) => console.error(`statesocket redis engine: ${error.message}`));

  const prefix = o.prefix;
  const global = globalKeys(prefix);
  const keysOf = new Map<string, ChannelKeys>();
  const keys = (channel: string): ChannelKeys => {
    let k = keysOf.get(channel);
    if (k === undefined) {
      k = channelKeys(prefix, channel);
      if (keysOf.size > 10_000) keysOf.clear();
      keysOf.set(channel, k);
    }
    return k;
  };
  const channelArgs = (k: ChannelKeys) => [k.meta, k.data, k.log, k.marks, k.markTimes, k.markOwners, k.notices, global.stored];
  const presenceArgs = (k: ChannelKeys) => [k.presence, k.members, k.holders, k.notices, k.meta, k.data, k.marks, k.log];
  const storedName = (channel: string) => (channel === DEFAULT_CHANNEL ? '' : channel);

  /** Followers by channel, and the subscription to the channel's notices they share. */
  const followed = new Map<string, { followers: Set<Follower>; subscribed: Promise<unknown> }>();
  /** Members this instance holds: channel → key → holder (refreshed until detached or left). */
  const held = new Map<string, Map<string, string>>();
  let closed = false;

  const connections = new Connections({
    url: o.url,
    commandTimeoutMs: o.commandTimeoutMs,
    heartbeatMs: o.heartbeatMs,
    onError,
  });
  const { cmd, sub } = connections;
  // Back after an outage: pub/sub may have missed notices (a dropped connection, or one that was
  // reconnected): subscribe again, then every follower catches up from the log.
  let wasAvailable = false;
  connections.onStatus((status) => {
    if (status === 'available' && wasAvailable) void resubscribe();
    if (status === 'available') wasAvailable = true;
  });

  sub.on('message', (notices: string, message: string) => {
    const channel = channelOfNotices(prefix, notices);
    const entry = channel === undefined ? undefined : followed.get(channel);
    if (entry === undefined) return;
    let notice;
    try {
      notice = parseNotice(message);
    } catch {
      return; // not one of ours (a message published by hand): nothing to tell
    }
    if (notice === undefined) return;
    for (const follower of entry.followers) follower.take(notice);
  });

  /** After the pub/sub connection came back: subscribe again, then every follower catches up on what it missed. */
  async function resubscribe(): Promise<void> {
    const channels = [...followed.keys()];
    if (channels.length === 0) return;
    try {
      await sub.subscribe(...channels.map((c) => keys(c).notices));
    } catch (error) {
      return report(error);
    }
    for (const channel of channels) for (const follower of followed.get(channel)?.followers ?? []) follower.catchUp(true);
  }

  function report(error: unknown): void {
    if (closed || error instanceof EngineUnavailableError || !(error instanceof Error)) return;
    try {
      onError(error);
    } catch {
      // the reporter's own failure changes nothing
    }
  }

  /** Redis's error replies reported (`onError`), by message: each once, however often it comes back. */
  const reportedReplies = new Set<string>();
  /**
   * An error reply that is not an outage (`WRONGTYPE`: a key of another type under the prefix, a
   * script's error): the caller gets it (a client's connection closes with 1011, and it comes back
   * at every try), so it is reported once per distinct message, or nobody would learn why.
   */
  function reportReplyError(error: Error): void {
    if (reportedReplies.has(error.message)) return;
    if (reportedReplies.size >= MAX_REPORTED_REPLIES) reportedReplies.clear(); // bounded: at worst reported again
    reportedReplies.add(error.message);
    report(error);
  }

  async function call<T>(run: () => Promise<T>): Promise<T> {
    if (closed) throw new EngineUnavailableError('the Redis engine is closed');
    // Not before the connect's probe: the scripts must know which Redis run they write to.
    if (!connections.probed) throw new EngineUnavailableError('Redis is unavailable: not connected');
    try {
      return await run();
    } catch (error) {
      const failure = engineError(error);
      if (failure instanceof UnexpectedReplyError) connections.unexpected(failure);
      else if (failure instanceof EngineUnavailableError) connections.suspect();
      else reportReplyError(failure);
      throw failure;
    }
  }

  /** A script's reply, when it has the shape `fits` expects; else `UnexpectedReplyError` (unavailable: clients retry). */
  function shaped<T>(what: string, reply: unknown, fits: (reply: unknown) => boolean): T {
    if (!fits(reply)) throw new UnexpectedReplyError(what, reply);
    return reply as T;
  }

  const isState = (r: unknown) => Array.isArray(r) && r.length === 4 && typeof r[0] === 'string' && isCount(r[1]) && isPairs(r[2]) && isPairs(r[3]);

  async function load(channel: string): Promise<ChannelState> {
    const k = keys(channel);
    const reply = await call(async () =>
      shaped<[string, string, string[], string[]]>(
        'LOAD',
        await SCRIPTS.load.run(cmd, [...channelArgs(k), k.presence, k.members, k.holders], [newEpoch(), o.logSize, Date.now(), o.channelIdleMs, storedName(channel), connections.restartMark]),
        isState,
      ),
    );
    return stateOf(reply);
  }

  /** The channel as stored, writing nothing (`Engine.peek`). */
  async function peek(channel: string): Promise<ChannelState | undefined> {
    const k = keys(channel);
    const reply = await call(async () => shaped<[string, string, string[], string[]] | null>('PEEK', await SCRIPTS.peek.run(cmd, [k.meta, k.data, k.members], []), (r) => r === null || isState(r)));
    return reply === null ? undefined : stateOf(reply);
  }

  function stateOf([epoch, seq, fields, members]: [string, string, string[], string[]]): ChannelState {
    const data: Record<string, Json> = {};
    for (let i = 0; i < fields.length; i += 2) data[JSON.parse(fields[i] as string) as string] = JSON.parse(fields[i + 1] as string) as Json;
    const list: EngineMember[] = [];
    for (let i = 0; i < members.length; i += 2) list.push(memberOf(members[i] as string, members[i + 1] as string));
    return { epoch, seq: Number(seq), data, members: list };
  }

  async function readLog(channel: string, epoch: string, since: number): Promise<ChannelEntry[] | undefined> {
    const k = keys(channel);
    const reply = await call(async () =>
      shaped<string[] | null>('READ_LOG', await SCRIPTS.readLog.run(cmd, [k.meta, k.log], [epoch, since, o.logSize]), (r) => r === null || isPairs(r)),
    );
    if (reply === null) return undefined;
    const entries: ChannelEntry[] = [];
    for (let i = 0; i < reply.length; i += 2) entries.push({ seq: Number(reply[i]), changes: JSON.parse(reply[i + 1] as string) as Changes });
    return entries;
  }

  const source = { load, readLog, report };

  async function follow(channel: string, listener: ChannelListener): Promise<Following> {
    const follower = new Follower(channel, listener, source);
    let entry = followed.get(channel);
    if (entry === undefined) {
      entry = { followers: new Set(), subscribed: call(() => sub.subscribe(keys(channel).notices)) };
      followed.set(channel, entry);
    }
    entry.followers.add(follower);
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      follower.close();
      const current = followed.get(channel);
      if (current === undefined) return;
      current.followers.delete(follower);
      if (current.followers.size > 0) return;
      followed.delete(channel);
      sub.unsubscribe(keys(channel).notices).catch(() => {}); // down: the connection's loss ends it anyway
    };
    try {
      await entry.subscribed;
      const state = await load(channel);
      follower.start(state);
      return { ...state, data: { ...state.data }, members: [...state.members], unfollow: stop };
    } catch (error) {
      stop(); // the last follower gone, a failed subscribe is not kept for the next follow
      throw error;
    }
  }

  /** The local followers see an applied change at once (no wait for pub/sub); the notice that follows is dropped as told. */
  function tellLocal(channel: string, epoch: string, seq: number, changes: Changes): void {
    for (const follower of followed.get(channel)?.followers ?? []) follower.take({ type: 'entry', epoch, seq, changes });
  }

  /** The server's changes per channel, pipelined in call order (server-lane.ts); a lane goes once nothing of it is pending. */
  const lanes = new Map<string, ServerLane>();
  const laneName = newEpoch();
  const laneSender: LaneSender = {
    async send(appends) {
      const pipeline = cmd.pipeline();
      for (const { keys: laneKeys, args } of appends) pipeline.evalsha(SCRIPTS.append.sha, laneKeys.length, ...laneKeys, ...args);
      const results = await pipeline.exec();
      return appends.map((_, i) => {
        const [error, reply] = results?.[i] ?? [new EngineUnavailableError('Redis is unavailable: a pipeline got no replies'), undefined];
        return error === null ? { reply } : { error };
      });
    },
    sendLoading: (laneKeys, args) => SCRIPTS.append.run(cmd, laneKeys, args),
    isNoScript,
  };
  function serverAppend(channel: string, laneKeys: readonly string[], args: Array<string | number>): Promise<unknown[]> {
    let lane = lanes.get(channel);
    if (lane === undefined) {
      const created = new ServerLane(laneName, laneSender, () => {
        if (lanes.get(channel) === created) lanes.delete(channel);
      });
      lanes.set(channel, (lane = created));
    }
    return lane.append(laneKeys, args);
  }

  type Kind = { kind: 'op'; mark: OpMark } | { kind: 'v1'; v1: V1Op; at: number } | { kind: 'server'; at: number };

  async function step(channel: string, who: Kind, changes: Changes | undefined, code: string, keepOffEmpty: boolean, maxDataBytes = 0): Promise<unknown[]> {
    const k = keys(channel);
    const isOp = who.kind === 'op';
    const args: Array<string | number> = [
      newEpoch(),
      o.logSize,
      isOp ? who.mark.at : who.at,
      o.channelIdleMs,
      storedName(channel),
      who.kind,
      isOp ? who.mark.key : who.kind === 'v1' ? who.v1.id : '',
      isOp ? who.mark.owner : who.kind === 'v1' ? who.v1.owner : '',
      isOp ? who.mark.n : 0,
      isOp && who.mark.re !== undefined ? who.mark.re : '',
      who.kind === 'v1' ? o.dedupRetentionMs : o.markRetentionMs,
      who.kind === 'v1' ? o.dedupSize : o.maxClientsPerChannel,
      o.maxRefusalsPerClient,
      o.maxStoredChannels,
      code,
      keepOffEmpty ? 1 : 0,
      changes === undefined ? '' : JSON.stringify(changes),
    ];
    const deleted = changes?.delete ?? [];
    args.push(deleted.length, connections.restartMark, maxDataBytes);
    for (const key of deleted) args.push(JSON.stringify(key));
    for (const [key, value] of Object.entries(changes?.set ?? {})) args.push(JSON.stringify(key), JSON.stringify(value));
    const appendKeys = [...channelArgs(k), global.v1Ops, global.v1Times];
    const reply = await call(async () =>
      shaped<unknown[]>(
        'APPEND',
        await (who.kind === 'server' ? serverAppend(channel, [...appendKeys, orderKey(prefix, channel, laneName)], args) : SCRIPTS.append.run(cmd, appendKeys, args)),
        (r) => Array.isArray(r) && APPEND_OUTCOMES.has(r[0] as string),
      ),
    );
    // Marks forgotten by the step (retention, the bound): the count is the reply's last item (4th of a duplicate).
    if (options.counters !== undefined && reply[0] !== 'full' && reply[0] !== 'deferred') {
      options.counters.marksForgotten += Number(reply[0] === 'duplicate' ? reply[3] : reply.at(-1)) || 0;
    }
    return reply;
  }

  function duplicateOf(reply: unknown[]): DuplicateAnswer {
    if (reply[1] === 'refusal') return { kind: 'refusal', code: reply[2] as string };
    return reply[1] === 'forgotten' ? { kind: 'forgotten' } : { kind: 'ack' };
  }

  async function append(channel: string, changes: Changes, op?: { mark?: OpMark; v1?: V1Op }, limit?: DocumentLimit): Promise<AppendResult> {
    const who: Kind = op?.mark !== undefined ? { kind: 'op', mark: op.mark } : op?.v1 !== undefined ? { kind: 'v1', v1: op.v1, at: Date.now() } : { kind: 'server', at: Date.now() };
    const reply = await step(channel, who, changes, '', false, limit?.maxDataBytes);
    switch (reply[0]) {
      case 'applied': {
        const epoch = reply[1] as string;
        const seq = Number(reply[2]);
        tellLocal(channel, epoch, seq, changes);
        return { status: 'applied', epoch, seq };
      }
      case 'duplicate':
        return { status: 'duplicate', answer: duplicateOf(reply) };
      case 'tooLarge':
        return { status: 'tooLarge', bytes: Number(reply[1]) };
      case 'forgotten':
        return { status: 'forgotten' };
      case 'full':
        return { status: 'full' };
      case 'deferred':
        return { status: 'deferred' };
      default:
        throw new UnexpectedReplyError('APPEND', reply);
    }
  }

  async function refuse(channel: string, code: string, op: { mark: OpMark; keepOffEmpty?: boolean } | { v1: V1Op }): Promise<RefuseResult> {
    const who: Kind = 'mark' in op ? { kind: 'op', mark: op.mark } : { kind: 'v1', v1: op.v1, at: Date.now() };
    const reply = await step(channel, who, undefined, code, 'mark' in op && op.keepOffEmpty === true);
    switch (reply[0]) {
      case 'refused':
        return { status: 'refused', code: reply[1] as string, recorded: reply[2] === 1 };
      case 'forgotten':
        return { status: 'refused', code: 'ERR_CLIENT_FORGOTTEN', recorded: true };
      case 'duplicate':
        return { status: 'duplicate', answer: duplicateOf(reply) };
      case 'full':
        return { status: 'full' };
      default:
        throw new UnexpectedReplyError('APPEND', reply);
    }
  }

  async function subscribed(channel: string, key: string, acked: number | undefined): Promise<number | undefined> {
    const k = keys(channel);
    const n = await call(async () => shaped<number>('ACKED', await SCRIPTS.acked.run(cmd, channelArgs(k), [key, acked ?? 0]), isCount));
    return Number(n) > 0 ? Number(n) : undefined;
  }

  async function claimClient(client: string, user: string | null): Promise<boolean> {
    const reply = await call(async () =>
      shaped<[string, unknown]>(
        'CLAIM',
        await SCRIPTS.claim.run(cmd, [global.owners, global.ownerTimes, global.ownerCounts], [client, user ?? '', o.markRetentionMs, o.maxClientIds, user === null ? 1 : 0]),
        (r) => Array.isArray(r) && (r[0] === 'ok' || r[0] === 'taken'),
      ),
    );
    return reply[0] === 'ok';
  }

  function holdersOf(channel: string): Map<string, string> {
    let map = held.get(channel);
    if (map === undefined) held.set(channel, (map = new Map()));
    return map;
  }

  function letGo(channel: string, key: string, holder: string): void {
    const map = held.get(channel);
    if (map?.get(key) !== holder) return;
    map.delete(key);
    if (map.size === 0) held.delete(channel);
  }

  async function join(channel: string, member: Omit<EngineMember, 'joinedAt'>, holder: string, at: number): Promise<void> {
    const plain: Record<string, unknown> = { client: member.client, user: member.user };
    if (member.info !== undefined) plain.info = member.info;
    const json = JSON.stringify(plain);
    const k = keys(channel);
    await call(async () => shaped('JOIN', await SCRIPTS.join.run(cmd, presenceArgs(k), [member.key, json.slice(0, -1), holder, Math.floor(at), o.presenceTtlMs]), isFlag));
    holdersOf(channel).set(member.key, holder);
  }

  async function leave(channel: string, key: string, holder: string): Promise<void> {
    letGo(channel, key, holder);
    await call(async () => shaped('LEAVE', await SCRIPTS.leave.run(cmd, presenceArgs(keys(channel)), [key, holder]), isFlag));
  }

  async function detach(channel: string, key: string, holder: string, graceMs: number): Promise<void> {
    letGo(channel, key, holder);
    const grace = Math.max(0, Math.floor(graceMs));
    await call(async () => shaped('DETACH', await SCRIPTS.detach.run(cmd, presenceArgs(keys(channel)), [key, holder, grace]), isFlag));
    // The member leaves when its grace ends: sweep then, rather than at the next refresh round.
    if (grace > 0) sweepAfter(channel, grace);
  }

  /** Sweeps that wait for a grace period to end (cleared by close). */
  const sweeps = new Set<ReturnType<typeof setTimeout>>();
  function sweepAfter(channel: string, ms: number): void {
    const timer = setTimeout(() => {
      sweeps.delete(timer);
      if (closed) return;
      SCRIPTS.refresh.run(cmd, presenceArgs(keys(channel)), [o.presenceTtlMs, 0]).catch(() => {}); // down: the next round sweeps
    }, ms + SWEEP_SLACK_MS);
    timer.unref?.();
    sweeps.add(timer);
  }

  /**
   * Every third of `presenceTtlMs`: the members this instance holds live on; expired members of
   * followed channels leave; followed channels that store nothing do not expire.
   */
  const refresher = setInterval(() => {
    if (closed || connections.status !== 'available') return;
    const channels = new Set([...held.keys(), ...followed.keys()]);
    if (channels.size === 0) return;
    const pipeline = cmd.pipeline();
    for (const channel of channels) {
      const args: Array<string | number> = [o.presenceTtlMs, followed.has(channel) ? o.channelIdleMs : 0];
      for (const [key, holder] of held.get(channel) ?? []) args.push(key, holder);
      const k = presenceArgs(keys(channel));
      pipeline.evalsha(SCRIPTS.refresh.sha, k.length, ...k, ...args);
    }
    pipeline.exec().then(
      (results) => {
        // After a Redis restart the script cache is empty: load it for the next round.
        if (results?.some(([error]) => error !== null && String(error.message).startsWith('NOSCRIPT'))) cmd.script('LOAD', REFRESH_SCRIPT).catch(() => {});
      },
      () => {},
    );
  }, Math.max(1, Math.floor(o.presenceTtlMs / 3)));
  refresher.unref?.();

  async function lease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    integer('lease ttlMs', ttlMs, 1);
    return (await call(async () => shaped('LEASE', await SCRIPTS.lease.run(cmd, [leaseKey(prefix, name)], [owner, ttlMs]), isFlag))) === 1;
  }

  async function releaseLease(name: string, owner: string): Promise<void> {
    await call(async () => shaped('RELEASE', await SCRIPTS.release.run(cmd, [leaseKey(prefix, name)], [owner]), isFlag));
  }

  return {
    follow,
    append,
    keepsServerAppendOrder: true,
    refuse,
    subscribed: (channel, key, acked) => subscribed(channel, key, acked),
    claimClient: (client, user) => claimClient(client, user),
    readLog,
    peek,
    join,
    leave,
    detach,
    lease,
    releaseLease,
    onStatus: (listener) => connections.onStatus(listener),
    ready: (timeoutMs = 5000) => connections.ready(timeoutMs),
    get status() {
      return connections.status;
    },
    redis: cmd,
    close: () => {
      if (closed) return;
      closed = true;
      clearInterval(refresher);
      for (const timer of sweeps) clearTimeout(timer);
      sweeps.clear();
      for (const entry of followed.values()) for (const follower of entry.followers) follower.close();
      followed.clear();
      held.clear();
      connections.close();
    },
  };
}

/** What APPEND answers first (scripts.ts). */
const APPEND_OUTCOMES = new Set(['applied', 'duplicate', 'tooLarge', 'forgotten', 'refused', 'full', 'deferred']);

/** A script's 0/1. */
const isFlag = (reply: unknown): boolean => reply === 0 || reply === 1;
/** A count or seq: an integer ≥ 0, as a number or as the text `%d` wrote. */
const isCount = (reply: unknown): boolean => (typeof reply === 'number' && Number.isSafeInteger(reply) && reply >= 0) || (typeof reply === 'string' && /^\d{1,16}$/.test(reply));
/** A flat list of (name, value) texts. */
const isPairs = (reply: unknown): boolean => Array.isArray(reply) && reply.length % 2 === 0 && reply.every((item) => typeof item === 'string');

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
