/**
 * A growing delay for repeated failed authentication from one address
 * (issue 11, item 7: 2,000 wrong-token attempts took 4.9 s, with no slowdown).
 * "Address" is whatever key the caller passes: `node-server.ts` passes
 * `addressGroup(address)` (an IPv4 address or an IPv6 /64), so one host cannot
 * get a fresh budget per IPv6 address it owns.
 *
 * The delay is a pure function of the failure count. The throttle applies it to
 * the *next attempt* from that address, not to the answer of the failed one:
 * delaying only the 4401 would let a guesser open many connections at once and
 * learn of the right guess immediately. Each attempt admitted from an address
 * with failures reserves the following slot as if it were going to fail too, so
 * parallel attempts are answered one after another, each a delay apart (an
 * address without failures gets `freeAttempts` parallel attempts unqueued,
 * so a burst of guesses from a fresh address is queued too):
 *
 * ```
 *   failures  0    1      2      3      4      …   n
 *   delay     0    250    500    1000   2000   …   min(250 · 2^(n-1), 10000) ms
 *
 *   attempt ──▶ admit(address) ──▶ wait = nextAt − now ── > maxDelayMs? ──▶ close 1013 (try again later)
 *                                      │ else
 *                                      ▼
 *               hold the connection `wait` ms, then read its hello ──▶ settle(ticket, ok)
 * ```
 *
 * A success gives back the slot it reserved as if it would fail, when no later attempt queued
 * behind it (one that did keeps its place), so the next attempt from the address, once the wait
 * after its last failure has passed, is read at once: a user who mistyped a token is not held on
 * every later connect. A success does not wipe the failure count, though: if it did, a guesser
 * holding one valid token (or sharing an address with someone who does) could interleave it
 * with its guesses and get every guess read at once, or a fresh `freeAttempts` burst after each
 * success. The count is forgotten only `forgetAfterMs` after the address's last failure. An
 * attempt closed before it was judged gives its slot back too, and leaves the count as it was.
 *
 * Records are forgotten `forgetAfterMs` after an address's last failure, and at
 * most `maxAddresses` are kept (the least recently failed go first), so an
 * attacker cannot grow the map without bound. No timers and no I/O: the caller
 * passes `now()` and does the holding.
 */

export interface AuthThrottleOptions {
  /**
   * Delay after the first failure, in ms; each further failure doubles it.
   * @default 250
   */
  baseDelayMs?: number;
  /**
   * Largest delay, in ms. An attempt that would have to wait longer (parallel attempts queued
   * behind each other) is refused at once with "try again later".
   * @default 10000
   */
  maxDelayMs?: number;
  /**
   * Attempts an address without failures may have waiting for their token to be judged at once
   * before further ones queue as if they were failing: a page opening several tabs is not held,
   * a burst of guesses from a fresh address is.
   * @default 10
   */
  freeAttempts?: number;
  /**
   * An address's failures are forgotten this long after its last one, in ms.
   * @default 600000 (10 minutes)
   */
  forgetAfterMs?: number;
  /**
   * Addresses remembered at most; the one whose last failure is oldest is forgotten first.
   * @default 10000
   */
  maxAddresses?: number;
}

export const DEFAULT_AUTH_THROTTLE = {
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  freeAttempts: 10,
  forgetAfterMs: 600_000,
  maxAddresses: 10_000,
} as const satisfies Required<AuthThrottleOptions>;

/** The wait before the next attempt after `failures` failures: 0, base, 2·base, 4·base, … capped at max. */
export function authFailureDelayMs(failures: number, options: { baseDelayMs: number; maxDelayMs: number } = DEFAULT_AUTH_THROTTLE): number {
  if (!(failures > 0)) return 0;
  // 2 ** 1024 is Infinity: cap the exponent before it matters.
  return Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(failures - 1, 60));
}

interface AddressRecord {
  failures: number;
  lastFailureAt: number;
  /** No attempt from this address is answered before this time. */
  nextAt: number;
  /** Attempts admitted and not yet settled. */
  pending: number;
}

/** One admitted attempt; hand it back to `settle` exactly once. */
export interface AuthTicket {
  readonly address: string;
  /** How long to hold the attempt before reading it, in ms. */
  readonly waitMs: number;
  /** @internal the record whose `pending` this attempt counts in */
  readonly record: AddressRecord | undefined;
  /** @internal when it is read, and the `nextAt` its reservation set (null: it reserved nothing) */
  readonly slot: { start: number; reservedUntil: number } | null;
  settled: boolean;
}

export type Admission = { admitted: true; ticket: AuthTicket } | { admitted: false; retryAfterMs: number };

export interface AuthThrottle {
  /** Admits an attempt from `address`, now or after `ticket.waitMs`; or refuses it when the wait is over `maxDelayMs`. */
  admit(address: string): Admission;
  /** The attempt's outcome: `true` authenticated, `false` failed, `null` closed before it was judged. */
  settle(ticket: AuthTicket, ok: boolean | null): void;
  /** Failures on record for `address` (0 when forgotten). */
  failures(address: string): number;
  /** Addresses on record now. */
  readonly size: number;
}

export function createAuthThrottle(options: AuthThrottleOptions = {}, now: () => number = Date.now): AuthThrottle {
  const policy = { ...DEFAULT_AUTH_THROTTLE, ...options };
  const records = new Map<string, AddressRecord>();

  const current = (address: string): AddressRecord | undefined => {
    const record = records.get(address);
    if (record === undefined) return undefined;
    if (record.pending === 0 && (record.failures === 0 || now() - record.lastFailureAt >= policy.forgetAfterMs)) {
      records.delete(address);
      return undefined;
    }
    return record;
  };

  /** Puts `record` last (the map's order is the order of last activity, oldest first) and bounds the map. */
  const touch = (address: string, record: AddressRecord) => {
    records.delete(address);
    records.set(address, record);
    while (records.size > policy.maxAddresses) records.delete(records.keys().next().value as string);
  };

  return {
    admit(address) {
      const at = now();
      let record = current(address);
      if (record === undefined) {
        record = { failures: 0, lastFailureAt: at, nextAt: at, pending: 0 };
        touch(address, record);
      }
      // Each attempt in flight is presumed to fail until judged, so parallel attempts queue
      // one after another; an address without failures gets `freeAttempts` of them unqueued.
      const presumed = record.failures > 0 ? record.failures + record.pending + 1 : Math.max(0, record.pending + 1 - policy.freeAttempts);
      const queued = presumed > 0;
      const start = queued ? Math.max(at, record.nextAt) : at;
      const waitMs = start - at;
      if (waitMs > policy.maxDelayMs) return { admitted: false, retryAfterMs: waitMs };
      record.pending++;
      let slot: AuthTicket['slot'] = null;
      if (queued) {
        record.nextAt = Math.max(record.nextAt, start + authFailureDelayMs(presumed, policy));
        slot = { start, reservedUntil: record.nextAt };
      }
      return { admitted: true, ticket: { address, waitMs, record, slot, settled: false } };
    },

    settle(ticket, ok) {
      if (ticket.settled) return;
      ticket.settled = true;
      const { record: held, slot } = ticket;
      if (held !== undefined) held.pending = Math.max(0, held.pending - 1);
      if (ok !== false) {
        if (held !== undefined) {
          // not a failure: the slot reserved as if it were one is given back, unless a later attempt queued behind it
          if (slot !== null && held.nextAt === slot.reservedUntil) held.nextAt = slot.start;
          // The failure count stays: a success must not buy a guesser a fresh budget (docs/cli.md).
        }
        current(ticket.address); // forgets an address left with no failures and nothing in flight
        return;
      }
      const at = now();
      const record = records.get(ticket.address) ?? ticket.record ?? { failures: 0, lastFailureAt: at, nextAt: at, pending: 0 };
      if (record.failures > 0 && at - record.lastFailureAt >= policy.forgetAfterMs) record.failures = 0;
      record.failures++;
      record.lastFailureAt = at;
      record.nextAt = Math.max(record.nextAt, at + authFailureDelayMs(record.failures, policy));
      touch(ticket.address, record);
    },

    failures: (address) => current(address)?.failures ?? 0,

    get size() {
      return records.size;
    },
  };
}
