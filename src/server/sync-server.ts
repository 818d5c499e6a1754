/**
 * The sync server's logic, as a library: epochs, sequence numbers, the bounded
 * replay log, the bounded dedup record, sessions and broadcast. No I/O: it
 * talks to each client through a `Peer`, so `scripts/server.ts` (with `ws`)
 * and the simulator (in memory) run the very same code.
 */
import { parseJsonFrame } from '../frames.js';
import type { Json } from '../store.js';
import type { Changes, HelloFrame, OpFrame, PatchFrame } from './../sync/messages.js';
import { PROTOCOL_VERSION, ServerErrorCode, SyncCloseCode, parseClientFrame } from '../sync/messages.js';
import { tokensEqual } from './token-equal.js';

/** One client connection, as the server logic sees it. */
export interface Peer {
  send(frame: string): void;
  /** Closes with a close frame. */
  close(code: number, reason: string): void;
  /** Bytes written but not yet sent (the transport's `bufferedAmount`). */
  readonly bufferedAmount: number;
}

export interface SyncServerOptions {
  /**
   * Patches kept for replay after a reconnect; a client further behind gets a snapshot.
   * @default 1000
   */
  logSize?: number;
  /**
   * Op ids remembered to apply each op once; the oldest are forgotten first.
   * An op re-sent after its id was forgotten would apply again, so keep this
   * above the ops a client can have in flight (its outbox limit).
   * @default 10000
   */
  dedupSize?: number;
  /** Clients must present this token (in the URL query or the hello). */
  token?: string;
  /**
   * A session whose peer has more than this many bytes buffered is closed with 1008 (slow consumer).
   * @default 4194304 (4 MiB)
   */
  maxBufferedBytes?: number;
  /** Random source for epochs. @default Math.random */
  random?: () => number;
  /** State to start from (a restart from the data file). */
  initial?: PersistedState;
  /**
   * Called after every change, before any ack goes out: persist `state()` here to make acks
   * durable (it builds the copy only when called). Throwing withholds the op's ack and its
   * place in the dedup record, so the client sends it again.
   */
  onChange?: (state: () => PersistedState) => void;
  /** Called when an op is applied (not when a duplicate is acknowledged): for audits and the simulator. */
  onApply?: (opId: string) => void;
}

/** What survives a restart: the data and the dedup record (not the epoch or the log). */
export interface PersistedState {
  data: Record<string, Json>;
  appliedOpIds: string[];
}

export interface ServerCounters {
  connections: number;
  sessions: number;
  rejectedFrames: number;
  opsApplied: number;
  opsDuplicate: number;
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

function newEpoch(random: () => number): string {
  const part = () => Math.floor(random() * 2 ** 32).toString(36).padStart(7, '0');
  return part() + part();
}

export function createSyncServer(options: SyncServerOptions = {}) {
  const logSize = options.logSize ?? 1000;
  const dedupSize = options.dedupSize ?? 10_000;
  const maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const random = options.random ?? Math.random;

  let epoch = newEpoch(random);
  let seq = 0;
  const data = new Map<string, Json>(Object.entries(options.initial?.data ?? {}));
  let log: PatchFrame[] = [];
  /** Insertion-ordered: the first key is the oldest. */
  const applied = new Set<string>(options.initial?.appliedOpIds ?? []);
  const live = new Set<LiveSession>();
  const counters: ServerCounters = {
    connections: 0,
    sessions: 0,
    rejectedFrames: 0,
    opsApplied: 0,
    opsDuplicate: 0,
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
  }

  const persisted = (): PersistedState => ({ data: Object.fromEntries(data), appliedOpIds: [...applied] });

  function send(session: LiveSession, frame: object): void {
    if (session.gone) return;
    session.peer.send(JSON.stringify(frame));
    if (session.peer.bufferedAmount > maxBufferedBytes) {
      counters.slowConsumers++;
      drop(session, 1008, `slow consumer: over ${maxBufferedBytes} bytes buffered`);
    }
  }

  function drop(session: LiveSession, code: number, reason: string): void {
    if (session.gone) return;
    session.gone = true;
    live.delete(session);
    counters.sessions = live.size;
    session.peer.close(code, reason);
  }

  function reject(session: LiveSession, code: string, message: string, id?: string): void {
    counters.rejectedFrames++;
    send(session, id === undefined ? { type: 'error', code, message } : { type: 'error', code, message, id });
  }

  /** Applies changes as the next seq, broadcasts the patch, persists, returns it. */
  function commit(changes: Changes): PatchFrame {
    for (const key of changes.delete ?? []) data.delete(key);
    for (const [key, value] of Object.entries(changes.set ?? {})) data.set(key, value);
    seq++;
    const patch: PatchFrame = { type: 'patch', epoch, seq };
    if (changes.set !== undefined) patch.set = changes.set;
    if (changes.delete !== undefined) patch.delete = changes.delete;
    log.push(patch);
    if (log.length > logSize) log = log.slice(log.length - logSize);
    for (const session of [...live]) if (session.greeted) send(session, patch);
    options.onChange?.(persisted);
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
      for (const patch of log) if (patch.seq > (hello.since as number)) send(session, patch);
      return;
    }
    counters.snapshotsSent++;
    send(session, { type: 'snapshot', epoch, seq, data: Object.fromEntries(data) });
  }

  function applyOp(session: LiveSession, op: OpFrame): void {
    if (applied.has(op.id)) {
      counters.opsDuplicate++;
    } else {
      // recorded before the commit so that the persisted dedup record includes it
      applied.add(op.id);
      while (applied.size > dedupSize) applied.delete(applied.values().next().value as string);
      const changes: Changes = {};
      if (op.set !== undefined) changes.set = op.set;
      if (op.delete !== undefined) changes.delete = op.delete;
      try {
        commit(changes);
      } catch (error) {
        // not durable: no ack, and the id is forgotten so the re-sent op is applied then
        applied.delete(op.id);
        throw error;
      }
      counters.opsApplied++;
      options.onApply?.(op.id);
    }
    send(session, { type: 'ack', id: op.id });
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
    persisted,
    /** Live sessions (greeted or not). */
    get sessionCount() {
      return live.size;
    },

    /** A new transport connection; call `receive` for each frame and `closed` when it ends. */
    connect(peer: Peer, info: ConnectInfo = {}): Session {
      counters.connections++;
      const session: LiveSession = { peer, info, authed: options.token === undefined, greeted: false, gone: false };
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
          const parsed = parseClientFrame(value);
          if (!parsed.ok) {
            const id = typeof (value as { id?: unknown })?.id === 'string' && (value as { type?: unknown }).type === 'op' ? (value as { id: string }).id : undefined;
            return reject(session, ServerErrorCode.INVALID_FRAME, parsed.problem, id);
          }
          const frame = parsed.frame;
          if (frame.type === 'ping') return send(session, { type: 'pong' });
          if (frame.type === 'hello') return greet(session, frame);
          if (!session.greeted) return reject(session, ServerErrorCode.HELLO_REQUIRED, 'send hello first', frame.id);
          applyOp(session, frame);
        },
        closed() {
          session.gone = true;
          live.delete(session);
          counters.sessions = live.size;
        },
      };
    },

    /** A change made by the server itself (a live feed). */
    change(changes: Changes): PatchFrame {
      return commit(changes);
    },

    /**
     * The `restart` fault: a new epoch and an empty replay log; data and the
     * dedup record stay. The transport must drop every connection.
     */
    restart(): void {
      epoch = newEpoch(random);
      seq = 0;
      log = [];
    },
  };
}

export type SyncServer = ReturnType<typeof createSyncServer>;
