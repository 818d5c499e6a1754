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
   * Op ids remembered to apply each op once; the oldest are forgotten first.
   * An op re-sent after its id was forgotten would apply again, so keep this
   * above the ops a client can have in flight (its outbox limit). The record
   * of refused op ids is bounded by the same number.
   * @default 10000
   */
  dedupSize?: number;
  /** Clients must present this token (in the URL query or the hello). */
  token?: string;
  /**
   * A session whose peer has more than this many bytes buffered is closed with 1013 (slow
   * consumer). The snapshot a session is sent on its hello does not count against it.
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
  /** State to start from (a restart from the data file). Throws RangeError when its data breaks the value rule. */
  initial?: PersistedState;
  /**
   * Called after every change to the persisted state (an applied change, or a refused op id
   * recorded), before anything about it goes out: persist `state()` here to make patches, acks
   * and refusals durable (it builds the copy only when called). Throwing undoes the change: for
   * an op, nothing is applied, broadcast or acked, and its connection is closed with 1011 so the
   * client sends it again; `change()` rethrows.
   */
  onChange?: (state: () => PersistedState) => void;
  /** Called when an op is applied (not when a duplicate is acknowledged): for audits and the simulator. */
  onApply?: (opId: string) => void;
}

/** An op the server refused for good: a resend of its id gets the same answer. */
export interface RefusedOp {
  id: string;
  code: string;
  message: string;
}

/** What survives a restart: the data and the op records (not the epoch or the log). */
export interface PersistedState {
  data: Record<string, Json>;
  appliedOpIds: string[];
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
  slowConsumers: number;
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
}

export interface Session {
  /** Hands the session one inbound frame (text, or binary as UTF-8 JSON). */
  receive(data: string | ArrayBuffer | Uint8Array): void;
  /** The transport closed: forget the session. */
  closed(): void;
}

/** `change()` refused a change: `code` is `ERR_INVALID_FRAME` (the value rule) or `ERR_DATA_LIMIT`. */
export class ChangeRefusedError extends Error {
  override readonly name = 'ChangeRefusedError';
  constructor(
    readonly code: ServerErrorCodeValue,
    message: string,
  ) {
    super(message);
  }
}

/** Default of `SyncServerOptions.maxDataBytes`: a snapshot of a full document still fits in 1 MiB. */
export const DEFAULT_MAX_DATA_BYTES = 1_047_552;

/** Longest refusal message kept in the refused-op record. */
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

export function createSyncServer(options: SyncServerOptions = {}) {
  const logSize = options.logSize ?? 1000;
  const dedupSize = options.dedupSize ?? 10_000;
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
  if (typeof measured === 'string') throw new RangeError(`initial data breaks the value rule: ${measured}`);
  const entrySizes = measured;
  let entrySum = 0;
  for (const size of entrySizes.values()) entrySum += size;
  let log: LogEntry[] = [];
  let logBytes = 0;
  /** Insertion-ordered: the first key is the oldest. */
  const applied = new Set<string>(options.initial?.appliedOpIds ?? []);
  const refused = new Map<string, { code: string; message: string }>(
    (options.initial?.refusedOps ?? []).map((op) => [op.id, { code: op.code, message: op.message }]),
  );
  const live = new Set<LiveSession>();
  const counters: ServerCounters = {
    connections: 0,
    sessions: 0,
    rejectedFrames: 0,
    opsApplied: 0,
    opsDuplicate: 0,
    opsRefused: 0,
    opsNotPersisted: 0,
    slowConsumers: 0,
    authFailures: 0,
    snapshotsSent: 0,
    replays: 0,
  };

  interface LiveSession {
    peer: Peer;
    info: ConnectInfo;
    authed: boolean;
    greeted: boolean;
    gone: boolean;
    /** Bytes of the snapshot that may still sit in the peer's buffer (0: none). */
    snapshotBytes: number;
    /** Bytes queued after the snapshot (the buffer is FIFO: they sit behind it). */
    queuedSinceSnapshot: number;
  }

  const persisted = (): PersistedState => ({
    data: Object.fromEntries(data),
    appliedOpIds: [...applied],
    refusedOps: [...refused].map(([id, { code, message }]) => ({ id, code, message })),
  });

  function trim<K>(record: { size: number; keys(): IterableIterator<K>; delete(key: K): boolean }): void {
    while (record.size > dedupSize) record.delete(record.keys().next().value as K);
  }

  /** Sends one frame; `snapshot` marks the frame the slow-consumer check does not count. */
  function sendText(session: LiveSession, text: string, snapshot = false): void {
    if (session.gone) return;
    session.peer.send(text);
    let buffered = session.peer.bufferedAmount;
    if (snapshot) {
      session.snapshotBytes = utf8Length(text);
      session.queuedSinceSnapshot = 0;
    } else if (session.snapshotBytes > 0) {
      session.queuedSinceSnapshot += utf8Length(text);
    }
    if (session.snapshotBytes > 0) {
      // What is buffered beyond the frames queued after the snapshot is what is left of it.
      const left = Math.min(session.snapshotBytes, Math.max(0, buffered - session.queuedSinceSnapshot));
      if (left === 0) session.snapshotBytes = 0;
      buffered -= left;
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

  /** A final refusal of the op `id`: recorded (and persisted) first, so a resend gets the same answer. */
  function refuse(session: LiveSession, id: string, code: string, message: string): void {
    const text = message.length > MAX_REFUSAL_MESSAGE ? `${message.slice(0, MAX_REFUSAL_MESSAGE - 3)}...` : message;
    if (!refused.has(id)) {
      refused.set(id, { code, message: text });
      try {
        options.onChange?.(persisted);
      } catch {
        refused.delete(id);
        return notPersisted(session);
      }
      trim(refused);
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
  function commit(checked: Extract<CheckedChanges, { ok: true }>, opId?: string): PatchFrame {
    const undo = stage(checked);
    seq++;
    if (opId !== undefined) applied.add(opId);
    try {
      options.onChange?.(persisted);
    } catch (error) {
      undo();
      seq--;
      if (opId !== undefined) applied.delete(opId);
      throw error;
    }
    trim(applied);
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
    for (const session of [...live]) if (session.greeted) sendText(session, text);
    return patch;
  }

  function greet(session: LiveSession, hello: HelloFrame): void {
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
      for (const entry of log) if (entry.seq > (hello.since as number)) sendText(session, entry.text);
      return;
    }
    counters.snapshotsSent++;
    sendText(session, JSON.stringify({ type: 'snapshot', epoch, seq, data: Object.fromEntries(data) }), true);
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
      const refusal = refused.get(id);
      if (refusal !== undefined) return refuse(session, id, refusal.code, refusal.message);
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
    try {
      commit(checked, id);
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
        snapshotBytes: 0,
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
    },
  };
}

export type SyncServer = ReturnType<typeof createSyncServer>;
