/**
 * Which user each client id belongs to, on a server with per-user tokens (docs/protocol.md, "One
 * connection per client id"). A hello from another user with an id that belongs to someone is
 * closed with 4423; the owner is never disturbed. Pure: times come from the caller, which never
 * lets them go back.
 *
 * ```
 *   hello (user U, client C) ──▶ U null? ─────────────────────────▶ nothing recorded (no per-user identity)
 *                                C belongs to another user (or null)? ─▶ refused (4423)
 *                                else C is U's, most recently greeted (making room: see `makeRoom`)
 * ```
 *
 * Marks and presence are kept per (user, client id) either way, so two users with one id never
 * touch each other's ops; this makes a client id name one user, so that presence members are told
 * apart by their client id alone and nobody can show up under someone else's id.
 *
 * Bounds: `maxClientIds` ids (the least recently greeted id of the user holding the most is
 * forgotten to make room, so one user's flood of ids forgets its own first) and `markRetentionMs`
 * since an id's last hello. A forgotten id may be taken by another user: that costs the old owner a
 * 4423 if it comes back with it, never an op (its marks are its own).
 */

export interface ClientOwnerLimits {
  maxClientIds: number;
  /** An id not greeted for this long is forgotten (the marks' retention). */
  retentionMs: number;
}

/** An id's owner as the data file keeps it: `[client, user, last hello]`, least recently greeted first. */
export type PersistedClientOwner = [client: string, user: string, at: number];

export class ClientOwners {
  /** By client id, least recently greeted first (a hello moves an id to the end). */
  private readonly byClient = new Map<string, { user: string; at: number }>();
  /** Ids held per user. */
  private readonly perUser = new Map<string, number>();

  constructor(
    private readonly limits: ClientOwnerLimits,
    initial: readonly PersistedClientOwner[] = [],
  ) {
    for (const [client, user, at] of initial) this.insert(client, user, at);
  }

  get size(): number {
    return this.byClient.size;
  }

  /** The user `client` belongs to (undefined: nobody's, or forgotten). */
  ownerOf(client: string, now: number): string | undefined {
    this.expire(now);
    return this.byClient.get(client)?.user;
  }

  /**
   * A hello of `user` with `client` was accepted: `client` is `user`'s, greeted now. Returns true
   * when it was nobody's before (the data file should learn it).
   */
  claim(client: string, user: string, now: number): boolean {
    this.expire(now);
    const entry = this.byClient.get(client);
    if (entry !== undefined) {
      if (entry.user !== user) throw new Error(`client id ${client} belongs to another user`); // the caller checks first
      this.byClient.delete(client);
      entry.at = now;
      this.byClient.set(client, entry);
      return false;
    }
    // `while`: a data file written with a larger bound may hold more.
    while (this.byClient.size >= this.limits.maxClientIds && this.byClient.size > 0) this.makeRoom();
    this.insert(client, user, now);
    return true;
  }

  /** The owners for the data file, least recently greeted first. */
  persisted(): PersistedClientOwner[] {
    return Array.from(this.byClient, ([client, { user, at }]): PersistedClientOwner => [client, user, at]);
  }

  private expire(now: number): void {
    for (const [client, entry] of this.byClient) {
      if (now - entry.at < this.limits.retentionMs) break;
      this.remove(client, entry.user);
    }
  }

  /** Forgets the least recently greeted id of the user holding the most ids. */
  private makeRoom(): void {
    let most = 0;
    for (const count of this.perUser.values()) if (count > most) most = count;
    for (const [client, entry] of this.byClient) {
      if (this.perUser.get(entry.user) !== most) continue;
      this.remove(client, entry.user);
      return;
    }
  }

  private insert(client: string, user: string, at: number): void {
    this.byClient.set(client, { user, at });
    this.perUser.set(user, (this.perUser.get(user) ?? 0) + 1);
  }

  private remove(client: string, user: string): void {
    this.byClient.delete(client);
    const left = (this.perUser.get(user) ?? 1) - 1;
    if (left > 0) this.perUser.set(user, left);
    else this.perUser.delete(user);
  }
}

/**
 * The owners of a data file written before owners were kept: every client id with a mark of a
 * user is that user's (the most recent mark wins when two users' marks share an id), least
 * recently active first.
 */
export function ownersFromMarks(marks: Iterable<{ client: string; user: string | null; at: number }>): PersistedClientOwner[] {
  const latest = new Map<string, { user: string; at: number }>();
  for (const mark of marks) {
    if (mark.user === null) continue;
    const known = latest.get(mark.client);
    if (known === undefined || mark.at > known.at) latest.set(mark.client, { user: mark.user, at: mark.at });
  }
  return Array.from(latest, ([client, { user, at }]): PersistedClientOwner => [client, user, at]).sort((a, b) => a[2] - b[2]);
}
