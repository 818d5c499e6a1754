/**
 * The sync server's logic, as a library: epochs, sequence numbers, the bounded
 * replay log, the bounded dedup record, sessions and broadcast. No I/O: it
 * talks to each client through a `Peer`, so `scripts/server.ts` (with `ws`)
 * and the simulator (in memory) run the very same code.
 */
import { parseJsonFrame, utf8Length } from '../frames.js';
import type { Json } from '../store.js';
import type { Changes, HelloFrame, PatchFrame, ServerErrorCodeValue } from '../sync/messages.js';
import { PROTOCOL_VERSION, ServerErrorCode, SyncCloseCode, isOpId, parseClientFrame } from '../sync/messages.js';
import { DEFAULT_VALUE_LIMITS, checkChanges, documentBytes, measureDocument, type CheckedChanges, type ValueLimits } from '../sync/values.js';
import { createOpRecord } from './op-record.js';
import { tokensEqual } from './token-equal.js';

/** One client connection, as the server logic sees it. */
export interface Peer {
  send(frame: string): void;
  /** Closes with a close frame. */
  close(code: number, reason: string): void;
  /**
   * Bytes written but not yet sent (the transport's `bufferedAmount`), plus whatever else the
   * transport counts against the slow-consumer bound (the Node server adds a per-frame overhead).
   */
  readonly bufferedAmount: number;
}

export interface SyncServerOptions {
  /**
   * Patches kept for replay after a reconnect (and no more than `maxDataBytes` of them); a
   * client further behind gets a snapshot.
   * @default 1000
   */
  logSize?: number;
  /**
   * Op ids remembered to apply each op once; the oldest are forgotten first, but never one
   * younger than `dedupRetentionMs`. An op re-sent after its id was forgotten would apply again,
   * so keep this above the ops all clients send within `dedupRetentionMs`. The record of refused
   * op ids is bounded by the same number.
   * @default 10000
   */
  dedupSize?: number;
  /**
   * Milliseconds an op id (applied or refused) is remembered at least, whatever `dedupSize` says:
   * a client whose connection dropped before the ack re-sends the op within this time, and it must
   * not apply twice. When a record holds `dedupSize` ids and its oldest is younger than this, room
   * is made by owner (`ConnectInfo.owner`): an op from the owner holding the most ids is not
   * applied (nor refused): its connection is closed with 1013 (try again later), the op stays in
   * the client's outbox, and `opsDeferred` counts it; an op from anyone else applies and the owner
   * holding the most forgets its oldest id. So a flood of fresh ids delays and risks only the
   * flooder's own ops. An id recorded in the future (the clock stepped back) counts as expired.
   * 0: ids are forgotten by `dedupSize` alone.
   * @default 60000 (1 minute)
   */
  dedupRetentionMs?: number;
  /**
   * `hello` frames one connection may send per minute (its first included); one more closes it
   * with 1013 (try again later). A client sends one per connection, and one more after each
   * sequence gap (`resync.needed`); each is answered with the whole document, so without a bound
   * one connection could turn a few bytes of hellos into gigabytes of snapshots.
   * @default 10
   */
  maxHellosPerMinute?: number;
  /** Time in milliseconds, for `dedupRetentionMs` and `maxHellosPerMinute` (the Node server passes its clock's `now`). @default Date.now */
  now?: () => number;
  /** Clients must present this token (in the URL query or the hello). */
  token?: string;
  /**
   * A session whose peer has more than this many bytes buffered is closed with 1013 (slow
   * consumer). The snapshot a session is sent on its hello does not count against it, one at a
   * time: a hello repeated while the previous snapshot is still buffered has its snapshot counted.
   * @default 4194304 (4 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * Arrays/objects a value in a change may nest (`1` has depth 0, `{"a":[1]}` depth 2); a deeper
   * one is refused with `ERR_INVALID_FRAME`.
   * @default 64
   */
  maxValueDepth?: number;
  /**
   * UTF-8 bytes of a change's JSON (its `set` object plus its `delete` array); a larger one is
   * refused with `ERR_INVALID_FRAME`.
   * @default 262144 (256 KiB)
   */
  maxOpBytes?: number;
  /**
   * UTF-8 bytes of the whole document's JSON; a change that would take it over (and grow it) is
   * refused with `ERR_DATA_LIMIT`. The default keeps a snapshot frame (the document plus an
   * envelope under 100 bytes) within the client's default `maxMessageBytes` of 1 MiB.
   * @default 1047552 (1 MiB - 1 KiB)
   */
  maxDataBytes?: number;
  /** Random source for epochs. @default Math.random */
  random?: () => number;
  /**
   * State to start from (a restart from the data file). Throws `InitialStateError` when its data
   * breaks the value rule or is over `maxDataBytes`. Holding more than `dedupSize` op ids (or
   * refused ids), it keeps the newest (last) `dedupSize`; loaded ids keep their recorded time and
   * owner (ids from a file without them count as recorded long ago).
   */
  initial?: PersistedState;
  /**
   * Called after every change to the persisted state, before anything about it goes out: persist
   * `state()` here to make patches, acks and refusals durable (it builds the copy only when
   * called). `what` says which change: `'change'` (an applied op or server change: write it now)
   * or `'refusal'` (a refused op id recorded: a throttled write is enough, since the client
   * settles the op on its refusal and never re-sends it). Throwing undoes the change: for an op,
   * nothing is applied, refused, broadcast or acked, and its connection is closed with 1011 so the
   * client sends it again; `change()` rethrows.
   */
  onChange?: (state: () => PersistedState, what: 'change' | 'refusal') => void;
  /** Called when an op is applied (not when a duplicate is acknowledged): for audits and the simulator. */
  onApply?: (opId: string) => void;
}

/**
 * An op the server refused for good: a resend of its id gets the same code. Only the id and the
 * code are kept (a data file from before may hold a `message` too: it is dropped at load).
 */
export interface RefusedOp {
  id: string;
  code: string;
  /** When it was recorded (`now`'s clock); absent in older files: recorded long ago. */
  at?: number;
  /** Its owner: an index into `PersistedState.opOwners` (see `ConnectInfo.owner`); absent in older files. */
  owner?: number;
}

/** What survives a restart: the data and the op records (not the epoch or the log). */
export interface PersistedState {
  data: Record<string, Json>;
  appliedOpIds: string[];
  /**
   * When each of `appliedOpIds` was recorded (same length), so the retention window survives a
   * restart. Absent in older files: their ids count as recorded long ago (outside the window).
   */
  appliedOpTimes?: number[];
  /** The owners of the recorded ids (see `ConnectInfo.owner`), each once: the owner fields index it. */
  opOwners?: string[];
  /** Each of `appliedOpIds`'s owner, an index into `opOwners` (same length). Absent in older files. */
  appliedOpOwners?: number[];
  /** Absent in data files written before refusals were recorded. */
  refusedOps?: RefusedOp[];
}

export interface ServerCounters {
  connections: number;
  sessions: number;
  rejectedFrames: number;
  opsApplied: number;
  opsDuplicate: number;
  /** Ops refused with an error frame carrying their id (first refusals and repeats). */
  opsRefused: number;
  /** Ops not applied because persisting them failed (their connection was closed with 1011). */
  opsNotPersisted: number;
  /**
   * Ops neither applied nor refused because their record (applied or refused ids) held `dedupSize`
   * ids younger than `dedupRetentionMs` (their connection was closed with 1013).
   */
  opsDeferred: number;
  slowConsumers: number;
  /** Connections closed with 1013 for sending more than `maxHellosPerMinute` hellos. */
  helloFloods: number;
  authFailures: number;
  snapshotsSent: number;
  replays: number;
}

export interface ConnectInfo {
  /** The token from the URL query, if any. */
  urlToken?: string | null;
  /**
   * Called once when the server has judged the token (from the URL or the hello): `true` when it
   * matched, `false` when the connection is being closed with 4401. Not called without a `token`.
   * The transport uses it to slow down repeated failures from one address.
   */
  onAuthenticated?: (ok: boolean) => void;
  /** Called once when the hello has been accepted (the snapshot or the replay follows). */
  onGreeted?: () => void;
  /**
   * Who the connection's op ids are recorded for (the Node server passes the address group). When
   * a record is full of ids inside the retention window, the owner holding the most of them is
   * the one deferred or made to forget its oldest. Without one, the session is its own owner.
   */
  owner?: string;
}

export interface Session {
  /** Hands the session one inbound frame (text, or binary as UTF-8 JSON). */
  receive(data: string | ArrayBuffer | Uint8Array): void;
  /** The transport closed: forget the session. */
  closed(): void;
}

/**
 * `change()` refused a change: `code` is `ERR_INVALID_FRAME` (the value rule), `ERR_DATA_LIMIT`, or
 * `ERR_STOPPED` (the Node server's handle after `close()`).
 */
export class ChangeRefusedError extends Error {
  override readonly name = 'ChangeRefusedError';
  constructor(
    readonly code: ServerErrorCodeValue | 'ERR_STOPPED',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Default of `SyncServerOptions.dedupRetentionMs`: 1 minute. A client whose connection dropped
 * re-sends within seconds (its reconnect backoff is at most 30 s by default, 1013 waits a few
 * seconds more), and with 10 000 ids (`dedupSize`) the server still takes about 166 new ops per
 * second without deferring one; an id older than this is still kept until `dedupSize` newer
 * ones push it out, so a quiet server remembers ids far longer.
 */
export const DEFAULT_DEDUP_RETENTION_MS = 60_000;

/**
 * `SyncServerOptions.initial` cannot be served. `rule` says which rule its data breaks: `'depth'`
 * (nested deeper than `maxValueDepth`), `'value'` (the value rule: a `__proto__` key, a number
 * that is not finite, something that is not JSON) or `'size'` (over `maxDataBytes`: its snapshot
 * would be over the limit clients are told to accept), with `bytes` the data's size then.
 */
export class InitialStateError extends RangeError {
  override readonly name = 'InitialStateError';
  constructor(
    readonly rule: 'depth' | 'value' | 'size',
    message: string,
    readonly bytes?: number,
  ) {
    super(message);
  }
}

/** Default of `SyncServerOptions.maxDataBytes`: a snapshot of a full document still fits in 1 MiB. */
export const DEFAULT_MAX_DATA_BYTES = 1_047_552;

/** Longest message of a first refusal's error frame (the record keeps no message). */
const MAX_REFUSAL_MESSAGE = 300;

function newEpoch(random: () => number): string {
  const part = () => Math.floor(random() * 2 ** 32).toString(36).padStart(7, '0');
  return part() + part();
}

interface LogEntry {
  seq: number;
  /** The patch frame's JSON, stringified once for every session and every replay. */
  text: string;
  /** Its UTF-8 size. */
  bytes: number;
}

/** The owner of the op ids loaded from the data file (session owners are `address …` or `session …`). */
const LOADED_OWNER = 'data file';

export function createSyncServer(options: SyncServerOptions = {}) {
  const logSize = options.logSize ?? 1000;
  const dedupSize = options.dedupSize ?? 10_000;
  const dedupRetentionMs = options.dedupRetentionMs ?? DEFAULT_DEDUP_RETENTION_MS;
  const now = options.now ?? Date.now;
  const maxHellosPerMinute = options.maxHellosPerMinute ?? 10;
  const maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const limits: ValueLimits = {
    maxValueDepth: options.maxValueDepth ?? DEFAULT_VALUE_LIMITS.maxValueDepth,
    maxOpBytes: options.maxOpBytes ?? DEFAULT_VALUE_LIMITS.maxOpBytes,
  };
  const maxDataBytes = options.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES;
  const random = options.random ?? Math.random;

  let epoch = newEpoch(random);
  let seq = 0;
  const data = new Map<string, Json>(Object.entries(options.initial?.data ?? {}));
  // The document's size, kept per key so no op has to stringify the whole document.
  const measured = measureDocument(options.initial?.data ?? {}, limits.maxValueDepth);
  if (typeof measured === 'string') {
    const rule = measured.includes('deeper than maxValueDepth') ? 'depth' : 'value';
    throw new InitialStateError(rule, `initial data breaks the value rule: ${measured}`);
  }
  const entrySizes = measured;
  let entrySum = 0;
  for (const size of entrySizes.values()) entrySum += size;
  const initialBytes = documentBytes(entrySum, entrySizes.size);
  if (initialBytes > maxDataBytes) {
    throw new InitialStateError('size', `initial data is ${initialBytes} bytes of JSON, over maxDataBytes (${maxDataBytes})`, initialBytes);
  }
  let log: LogEntry[] = [];
  let logBytes = 0;
  // Both records keep each id with when it was recorded and its owner (see op-record.ts); the
  // refused one keeps the code. Ids loaded from the data file keep their recorded time and owner;
  // a file without them (written before they were kept) has its ids count as recorded long ago
  // (outside the window, so a restart cannot block writes) and owned by LOADED_OWNER. A file
  // holding more than dedupSize (from a larger --dedup-size, or edited) keeps its newest (last) ones.
  const recordOptions = { size: dedupSize, retentionMs: dedupRetentionMs, now };
  const applied = createOpRecord<true>(recordOptions);
  const refused = createOpRecord<string>(recordOptions);
  const longAgo = now() - dedupRetentionMs;
  const initialIds = options.initial?.appliedOpIds ?? [];
  const keptFrom = Math.max(0, initialIds.length - dedupSize);
  const ownerAt = (index: number | undefined) => (index === undefined ? undefined : options.initial?.opOwners?.[index]) ?? LOADED_OWNER;
  for (let i = keptFrom; i < initialIds.length; i++) {
    const at = options.initial?.appliedOpTimes?.[i] ?? longAgo;
    applied.add(initialIds[i]!, ownerAt(options.initial?.appliedOpOwners?.[i]), true, at);
  }
  for (const op of (options.initial?.refusedOps ?? []).slice(-dedupSize)) {
    refused.add(op.id, ownerAt(op.owner), op.code, op.at ?? longAgo);
  }
  let sessionCount = 0;
  const live = new Set<LiveSession>();
  const counters: ServerCounters = {
    connections: 0,
    sessions: 0,
    rejectedFrames: 0,
    opsApplied: 0,
    opsDuplicate: 0,
    opsRefused: 0,
    opsNotPersisted: 0,
    opsDeferred: 0,
    slowConsumers: 0,
    helloFloods: 0,
    authFailures: 0,
    snapshotsSent: 0,
    replays: 0,
  };

  interface LiveSession {
    peer: Peer;
    info: ConnectInfo;
    /** Whom its op ids are recorded for (`ConnectInfo.owner`, or the session itself). */
    owner: string;
    authed: boolean;
    greeted: boolean;
    gone: boolean;
    /** Bytes of the snapshot that may still sit in the peer's buffer (0: none). */
    snapshotBytes: number;
    /** Bytes queued after the snapshot (the buffer is FIFO: they sit behind it). */
    queuedSinceSnapshot: number;
    /** Hellos since `helloWindowStart` (a window of one minute). */
    hellos: number;
    helloWindowStart: number;
  }

  const persisted = (): PersistedState => {
    // One pass over the applied record (it is written before every op's ack); each owner's name
    // is written once (a record of 10 000 ids has few owners), the ids refer to it by index.
    const owners = new Map<string, number>();
    const ownerIndex = (owner: string) => {
      let index = owners.get(owner);
      if (index === undefined) owners.set(owner, (index = owners.size));
      return index;
    };
    const appliedOpIds: string[] = [];
    const appliedOpTimes: number[] = [];
    const appliedOpOwners: number[] = [];
    for (const [id, { at, owner }] of applied.entries()) {
      appliedOpIds.push(id);
      appliedOpTimes.push(at);
      appliedOpOwners.push(ownerIndex(owner));
    }
    const refusedOps = Array.from(refused.entries(), ([id, { value: code, at, owner }]) => ({ id, code, at, owner: ownerIndex(owner) }));
    return { data: Object.fromEntries(data), appliedOpIds, appliedOpTimes, appliedOpOwners, refusedOps, opOwners: [...owners.keys()] };
  };

  /** An op that would push a fresh id out of its record: not applied, not refused; the client re-sends it later. */
  function deferred(session: LiveSession): void {
    counters.opsDeferred++;
    drop(session, SyncCloseCode.TRY_AGAIN_LATER, 'too many ops; try again later');
  }

  /** What is left in the peer's buffer of the snapshot in flight (0 once it drained: the discount ends). */
  function snapshotLeft(session: LiveSession, buffered: number): number {
    if (session.snapshotBytes === 0) return 0;
    // What is buffered beyond the frames queued after the snapshot is what is left of it.
    const left = Math.min(session.snapshotBytes, Math.max(0, buffered - session.queuedSinceSnapshot));
    if (left === 0) session.snapshotBytes = 0;
    return left;
  }

  /**
   * Sends one frame of `bytes` UTF-8 bytes. `snapshot` marks the frame the slow-consumer check does
   * not count, but only while no other snapshot is in flight: a hello repeated before its snapshot
   * drained has the new snapshot counted in full, so a client that sends hellos and reads nothing
   * reaches the bound at once.
   */
  function sendText(session: LiveSession, text: string, bytes = utf8Length(text), snapshot = false): void {
    if (session.gone) return;
    snapshotLeft(session, session.peer.bufferedAmount);
    session.peer.send(text);
    let buffered = session.peer.bufferedAmount;
    if (snapshot && session.snapshotBytes === 0) {
      session.snapshotBytes = bytes;
      session.queuedSinceSnapshot = 0;
    } else if (session.snapshotBytes > 0) {
      session.queuedSinceSnapshot += bytes;
    }
    if (session.snapshotBytes > 0) {
      buffered -= snapshotLeft(session, buffered);
    }
    if (buffered > maxBufferedBytes) {
      counters.slowConsumers++;
      drop(session, SyncCloseCode.TRY_AGAIN_LATER, `slow consumer: over ${maxBufferedBytes} bytes buffered`);
    }
  }

  function send(session: LiveSession, frame: object): void {
    sendText(session, JSON.stringify(frame));
  }

  function drop(session: LiveSession, code: number, reason: string): void {
    if (session.gone) return;
    session.gone = true;
    live.delete(session);
    counters.sessions = live.size;
    session.peer.close(code, reason);
  }

  /** An error frame without an op id: nothing is settled. */
  function reject(session: LiveSession, code: string, message: string): void {
    counters.rejectedFrames++;
    send(session, { type: 'error', code, message });
  }

  /**
   * A final refusal of the op `id`: recorded (and handed to `onChange`) first, so a resend gets the
   * same code; a resend's message only says so (the record keeps no message).
   */
  function refuse(session: LiveSession, id: string, code: string, message: string): void {
    const known = refused.has(id);
    const text = known
      ? message
      : message.length > MAX_REFUSAL_MESSAGE
        ? `${message.slice(0, MAX_REFUSAL_MESSAGE - 3)}...`
        : message;
    if (!known) {
      if (!refused.admit(session.owner)) return deferred(session);
      refused.add(id, session.owner, code);
      try {
        options.onChange?.(persisted, 'refusal');
      } catch {
        refused.delete(id);
        return notPersisted(session);
      }
      refused.trim();
    }
    counters.rejectedFrames++;
    counters.opsRefused++;
    send(session, { type: 'error', code, message: text, id });
  }

  /** A failure that is not the op's fault: no answer carrying its id, the connection closes, the client resends. */
  function notPersisted(session: LiveSession): void {
    counters.opsNotPersisted++;
    drop(session, SyncCloseCode.INTERNAL_ERROR, 'could not persist the change; it was not applied: send it again');
  }

  /** Bytes of the document's JSON once `checked` is applied. */
  function sizeAfter(checked: Extract<CheckedChanges, { ok: true }>): number {
    const next = new Map<string, number | undefined>();
    for (const key of checked.changes.delete ?? []) next.set(key, undefined);
    for (const [key, size] of checked.entryBytes) next.set(key, size);
    let sum = entrySum;
    let count = data.size;
    for (const [key, size] of next) {
      const old = entrySizes.get(key);
      if (old !== undefined) {
        sum -= old;
        count--;
      }
      if (size !== undefined) {
        sum += size;
        count++;
      }
    }
    return documentBytes(sum, count);
  }

  /** The value rule and the data limit; a refusal as [code, message]. */
  function validate(input: unknown): Extract<CheckedChanges, { ok: true }> | [ServerErrorCodeValue, string] {
    const checked = checkChanges(input, limits);
    if (!checked.ok) return [ServerErrorCode.INVALID_FRAME, checked.problem];
    const now = documentBytes(entrySum, data.size);
    const after = sizeAfter(checked);
    if (after > maxDataBytes && after > now) {
      return [
        ServerErrorCode.DATA_LIMIT,
        `the change would make the document ${after} bytes of JSON, over maxDataBytes (${maxDataBytes}); delete keys first`,
      ];
    }
    return checked;
  }

  /** Applies the change in memory; returns what puts it back. */
  function stage(checked: Extract<CheckedChanges, { ok: true }>): () => void {
    const before = new Map<string, [Json, number] | null>();
    const remember = (key: string) => {
      if (before.has(key)) return;
      const value = data.get(key);
      before.set(key, value === undefined && !data.has(key) ? null : [value as Json, entrySizes.get(key) ?? 0]);
    };
    const remove = (key: string) => {
      const size = entrySizes.get(key);
      if (size !== undefined) entrySum -= size;
      entrySizes.delete(key);
      data.delete(key);
    };
    for (const key of checked.changes.delete ?? []) {
      remember(key);
      remove(key);
    }
    for (const [key, value] of Object.entries(checked.changes.set ?? {})) {
      remember(key);
      remove(key);
      const size = checked.entryBytes.get(key) as number;
      data.set(key, value);
      entrySizes.set(key, size);
      entrySum += size;
    }
    return () => {
      for (const [key, old] of before) {
        remove(key);
        if (old === null) continue;
        data.set(key, old[0]);
        entrySizes.set(key, old[1]);
        entrySum += old[1];
      }
    };
  }

  /**
   * Write, then broadcast: applies a validated change as the next seq, persists it (through
   * `onChange`), and only then sends the patch to every greeted session. A throw from `onChange`
   * puts everything back (data, seq, the op id) and is rethrown: nobody saw the change.
   */
  function commit(checked: Extract<CheckedChanges, { ok: true }>, opId?: string, owner = ''): PatchFrame {
    const undo = stage(checked);
    seq++;
    if (opId !== undefined) applied.add(opId, owner, true);
    try {
      options.onChange?.(persisted, 'change');
    } catch (error) {
      undo();
      seq--;
      if (opId !== undefined) applied.delete(opId);
      throw error;
    }
    applied.trim();
    const patch: PatchFrame = { type: 'patch', epoch, seq };
    if (checked.changes.set !== undefined) patch.set = checked.changes.set;
    if (checked.changes.delete !== undefined) patch.delete = checked.changes.delete;
    const text = JSON.stringify(patch);
    const bytes = utf8Length(text);
    log.push({ seq, text, bytes });
    logBytes += bytes;
    // At most logSize patches, and at most maxDataBytes of them: a client further behind than a
    // whole document's worth of patches is better served by a snapshot (and 1000 ops of 256 KiB
    // would otherwise hold 256 MiB).
    let drop = 0;
    const over = () => log.length - drop > logSize || (logBytes > maxDataBytes && drop < log.length - 1);
    while (drop < log.length && over()) logBytes -= (log[drop++] as LogEntry).bytes;
    if (drop > 0) log = log.slice(drop);
    for (const session of [...live]) if (session.greeted) sendText(session, text, bytes);
    return patch;
  }

  /**
   * The snapshot frame of the current (epoch, seq), built once and sent to every hello until the
   * next change: the same string each time, so a transport can encode it once (the Node server
   * shares one Buffer) and N hellos cost one document's worth of heap, not N.
   */
  let snapshotCache: { epoch: string; seq: number; text: string; bytes: number } | undefined;
  function snapshotFrame(): { text: string; bytes: number } {
    if (snapshotCache?.epoch !== epoch || snapshotCache.seq !== seq) {
      const text = JSON.stringify({ type: 'snapshot', epoch, seq, data: Object.fromEntries(data) });
      snapshotCache = { epoch, seq, text, bytes: utf8Length(text) };
    }
    return snapshotCache;
  }

  /** Counts a hello; false (and the connection closed with 1013) when it is one too many this minute. */
  function helloAllowed(session: LiveSession): boolean {
    const time = now();
    if (session.hellos === 0 || time - session.helloWindowStart >= 60_000 || time < session.helloWindowStart) {
      session.hellos = 0;
      session.helloWindowStart = time;
    }
    session.hellos++;
    if (session.hellos <= maxHellosPerMinute) return true;
    counters.helloFloods++;
    drop(session, SyncCloseCode.TRY_AGAIN_LATER, `too many hellos (over ${maxHellosPerMinute} a minute); try again later`);
    return false;
  }

  function greet(session: LiveSession, hello: HelloFrame): void {
    if (!helloAllowed(session)) return;
    if (hello.v !== PROTOCOL_VERSION) {
      return drop(session, SyncCloseCode.UNSUPPORTED_VERSION, `unsupported protocol version ${hello.v}; this server speaks ${PROTOCOL_VERSION}`);
    }
    if (options.token !== undefined && !session.authed) {
      // Constant time: `!==` would tell a guesser, by its timing, how much of the token was right.
      if (hello.token === undefined || !tokensEqual(hello.token, options.token)) {
        counters.authFailures++;
        session.info.onAuthenticated?.(false);
        return drop(session, SyncCloseCode.UNAUTHORIZED, hello.token === undefined ? 'token required' : 'invalid token');
      }
      session.authed = true;
      session.info.onAuthenticated?.(true);
    }
    session.greeted = true;
    session.info.onGreeted?.();
    const oldest = log[0]?.seq ?? seq + 1;
    const canReplay =
      hello.epoch === epoch && hello.since !== undefined && hello.since <= seq && hello.since >= oldest - 1;
    if (canReplay) {
      counters.replays++;
      for (const entry of log) if (entry.seq > (hello.since as number)) sendText(session, entry.text, entry.bytes);
      return;
    }
    counters.snapshotsSent++;
    const snapshot = snapshotFrame();
    sendText(session, snapshot.text, snapshot.bytes, true);
  }

  /**
   * An op, checked in this order: the hello came first (else an error without the id: the op
   * is not settled); a known id gets its old answer (the same refusal, or an ack); then the
   * frame's shape, the value rule and the data limit (a refusal with the id, recorded); then
   * write, broadcast, ack.
   */
  function receiveOp(session: LiveSession, value: Record<string, unknown>): void {
    if (!session.greeted) {
      return reject(session, ServerErrorCode.HELLO_REQUIRED, 'send hello first; the op was not applied: send it again after the hello');
    }
    const id = isOpId(value.id) ? value.id : undefined;
    if (id !== undefined) {
      const code = refused.get(id);
      if (code !== undefined) return refuse(session, id, code, `op ${id} was refused before (${code})`);
      if (applied.has(id)) {
        counters.opsDuplicate++;
        return send(session, { type: 'ack', id });
      }
    }
    if (id === undefined) {
      const parsed = parseClientFrame(value); // only to say what is wrong with the id
      return reject(session, ServerErrorCode.INVALID_FRAME, parsed.ok ? 'invalid op id' : parsed.problem);
    }
    // An op is its id and its change: the change's shape and values are checked once, by the value
    // rule (checkChanges), on the raw value: a copy would have turned an own "__proto__" key into a prototype.
    const checked = validate(value);
    if (Array.isArray(checked)) return refuse(session, id, checked[0], checked[1]);
    if (!applied.admit(session.owner)) return deferred(session);
    try {
      commit(checked, id, session.owner);
    } catch {
      return notPersisted(session);
    }
    counters.opsApplied++;
    options.onApply?.(id);
    send(session, { type: 'ack', id });
  }

  return {
    get epoch() {
      return epoch;
    },
    get seq() {
      return seq;
    },
    counters,
    /** The current data as a plain object. */
    data: (): Record<string, Json> => Object.fromEntries(data),
    /** UTF-8 bytes of the current data's JSON (kept incrementally). */
    get dataBytes() {
      return documentBytes(entrySum, data.size);
    },
    persisted,
    /** Live sessions (greeted or not). */
    get sessionCount() {
      return live.size;
    },

    /** A new transport connection; call `receive` for each frame and `closed` when it ends. */
    connect(peer: Peer, info: ConnectInfo = {}): Session {
      counters.connections++;
      const session: LiveSession = {
        peer,
        authed: options.token === undefined,
        greeted: false,
        gone: false,
        info,
        owner: info.owner !== undefined ? `address ${info.owner}` : `session ${epoch}.${++sessionCount}`,
        snapshotBytes: 0,
        hellos: 0,
        helloWindowStart: 0,
        queuedSinceSnapshot: 0,
      };
      live.add(session);
      counters.sessions = live.size;
      if (options.token !== undefined && info.urlToken != null) {
        if (!tokensEqual(info.urlToken, options.token)) {
          counters.authFailures++;
          info.onAuthenticated?.(false);
          drop(session, SyncCloseCode.UNAUTHORIZED, 'invalid token');
        } else {
          session.authed = true;
          info.onAuthenticated?.(true);
        }
      }
      return {
        receive(raw) {
          if (session.gone) return;
          let value: unknown;
          try {
            const frame =
              typeof raw === 'string' || raw instanceof ArrayBuffer
                ? raw
                : (raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer);
            value = parseJsonFrame(frame);
          } catch (error) {
            return reject(session, ServerErrorCode.MALFORMED_FRAME, `frame is not JSON: ${(error as Error).message}`);
          }
          if (typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { type?: unknown }).type === 'op') {
            return receiveOp(session, value as Record<string, unknown>);
          }
          const parsed = parseClientFrame(value);
          if (!parsed.ok) return reject(session, ServerErrorCode.INVALID_FRAME, parsed.problem);
          const frame = parsed.frame;
          if (frame.type === 'ping') return send(session, { type: 'pong' });
          if (frame.type === 'hello') return greet(session, frame);
        },
        closed() {
          session.gone = true;
          live.delete(session);
          counters.sessions = live.size;
        },
      };
    },

    /**
     * A change made by the server itself (a live feed, the control route, the simulator): the
     * same value rule and data limit as ops. Throws `ChangeRefusedError` when refused, and
     * rethrows an `onChange` failure (the change is then undone and was not broadcast).
     */
    change(changes: Changes): PatchFrame {
      const checked = validate(changes);
      if (Array.isArray(checked)) throw new ChangeRefusedError(checked[0], checked[1]);
      return commit(checked);
    },

    /**
     * The `restart` fault: a new epoch and an empty replay log; data and the
     * op records stay. The transport must drop every connection.
     */
    restart(): void {
      epoch = newEpoch(random);
      seq = 0;
      log = [];
      logBytes = 0;
      snapshotCache = undefined;
    },
  };
}

export type SyncServer = ReturnType<typeof createSyncServer>;
