/**
 * What the memory engine keeps across a restart (the data file's shape), the error for a stored
 * state that cannot be served, and the defaults of the bounds on it. Shared by the sync server
 * (its options), the memory engine (engines/memory.ts) and the data file (data-file.ts).
 */
import type { Json } from '../store.js';
import { DEFAULT_CHANNEL } from '../sync/messages-v2.js';
import type { PersistedClientOwner } from './client-owners.js';
import type { PersistedMark } from './marks.js';

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

/** A channel as the data file keeps it. */
export interface PersistedChannel {
  /** The document (absent for `default`, whose document is `PersistedState.data`). */
  data?: Record<string, Json>;
  /** Its op marks, least recently active first. */
  marks?: PersistedMark[];
  /** The latest last-op time of a forgotten mark. */
  horizon?: number;
}

/**
 * What survives a restart: every channel's data and marks, and version 1's op records (not the
 * epochs or the logs). A file written before channels (version 1) has only `data` and the op
 * records: it loads as the `default` channel.
 */
export interface PersistedState {
  /** The `default` channel's document. */
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
  /** Every channel but `default`'s document, by name (and `default`'s marks). Absent in version 1 files. */
  channels?: Record<string, PersistedChannel>;
  /** The last time the server used for marks and welcomes: times never go back, across restarts too. */
  time?: number;
  /**
   * Which user each client id belongs to (per-user tokens), least recently greeted first. Absent in
   * files written before it was kept: then every client id with a mark of a user is that user's.
   */
  clientOwners?: PersistedClientOwner[];
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
 * `SyncServerOptions.initial` cannot be served. `rule` says which rule a channel's data breaks:
 * `'depth'` (nested deeper than `maxValueDepth`), `'value'` (the value rule) or `'size'` (over
 * `maxDataBytes`), with `bytes` the data's size then; `channel` names the channel.
 */
export class InitialStateError extends RangeError {
  override readonly name = 'InitialStateError';
  constructor(
    readonly rule: 'depth' | 'value' | 'size',
    message: string,
    readonly bytes?: number,
    readonly channel: string = DEFAULT_CHANNEL,
  ) {
    super(message);
  }
}

/** Default of `SyncServerOptions.maxStoredChannels`. */
export const DEFAULT_MAX_STORED_CHANNELS = 100_000;

/** Default of `SyncServerOptions.maxClientIds`. */
export const DEFAULT_MAX_CLIENT_IDS = 100_000;

/** Default of `SyncServerOptions.maxDataBytes`: a snapshot of a full document still fits in 1 MiB. */
export const DEFAULT_MAX_DATA_BYTES = 1_047_552;
