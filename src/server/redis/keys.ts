/**
 * Every Redis key the Redis engine uses (docs/scaling.md, "Keys"), in one place. A channel's keys
 * share the hash tag `{NAME}`, so they live in one Redis Cluster slot and one script may touch them
 * all. Channel names never contain `{`, `}` or spaces (docs/protocol.md, "Names"), so a name is
 * used as it is.
 */

// The prefix's rule and default live outside this folder: the server's options and the program
// check them without loading the Redis engine (test/server/redis/entries.test.ts).
export { DEFAULT_PREFIX, MAX_PREFIX_LENGTH, checkPrefix } from '../redis-prefix.js';

/** The keys of one channel, in the order the scripts take them (`KEYS[1..6]`). */
export interface ChannelKeys {
  /** Hash: epoch, seq, bytes, count, time, horizon. */
  meta: string;
  /** Hash: the document, field = the key as JSON (quoted), value = the value as JSON; `~` = the epoch stamp. */
  data: string;
  /** Stream: one entry per change, id `<seq>-0`, field `c` = the change as JSON. */
  log: string;
  /** Hash: marks by mark key (user NUL client) → `n|acked|floor|refusals|owner`; `~` = the epoch stamp. */
  marks: string;
  /** Sorted set: mark key scored by its last-op time (least recently active first). */
  markTimes: string;
  /** Hash: owner → how many marks it holds. */
  markOwners: string;
  /** Pub/sub channel: entries, resets, joins and leaves (see `notice.ts`). */
  notices: string;
  /** Sorted set: presence member key scored by when it expires (Redis clock, ms). */
  presence: string;
  /** Hash: presence member key → the member's JSON (`{client, user, info?, joinedAt}`). */
  members: string;
  /** Hash: presence member key → the subscription holding it ('' while its grace period runs). */
  holders: string;
}

export interface GlobalKeys {
  /** Set: names of channels that store data or marks (`default` aside), for `maxStoredChannels`. */
  stored: string;
  /** Hash: client id → `at|user`, the user a client id belongs to. */
  owners: string;
  /** Sorted set: client id scored by its last hello. */
  ownerTimes: string;
  /** Hash: user → how many client ids it holds. */
  ownerCounts: string;
  /** Hash: version 1 op id → `A|owner` (applied) or `R|owner|code` (refused). */
  v1Ops: string;
  /** Sorted set: version 1 op id scored by when it was recorded. */
  v1Times: string;
}

export function channelKeys(prefix: string, channel: string): ChannelKeys {
  const base = `${prefix}{${channel}}:`;
  return {
    meta: `${base}meta`,
    data: `${base}data`,
    log: `${base}log`,
    marks: `${base}marks`,
    markTimes: `${base}mark-times`,
    markOwners: `${base}mark-owners`,
    notices: `${base}notices`,
    presence: `${base}presence`,
    members: `${base}members`,
    holders: `${base}holders`,
  };
}

export function globalKeys(prefix: string): GlobalKeys {
  return {
    stored: `${prefix}stored`,
    owners: `${prefix}owners`,
    ownerTimes: `${prefix}owner-times`,
    ownerCounts: `${prefix}owner-counts`,
    v1Ops: `${prefix}v1-ops`,
    v1Times: `${prefix}v1-times`,
  };
}

/** A feed lease's key (docs/scaling.md, "Feed lease"). */
/** String: `run|n` of the last pipelined server change of `lane` (one engine) on `channel` (server-lane.ts); expires a minute after it. */
export function orderKey(prefix: string, channel: string, lane: string): string {
  return `${prefix}{${channel}}:order:${lane}`;
}

export function leaseKey(prefix: string, name: string): string {
  return `${prefix}lease:${name}`;
}

/** The pub/sub channel a notice arrived on → the statesocket channel name (undefined: not ours). */
export function channelOfNotices(prefix: string, notices: string): string | undefined {
  const head = `${prefix}{`;
  const tail = '}:notices';
  if (!notices.startsWith(head) || !notices.endsWith(tail)) return undefined;
  return notices.slice(head.length, notices.length - tail.length);
}
