/**
 * The server's own changes of one channel (the feed, `change()`) on Redis, pipelined: up to
 * `MAX_APPENDS_IN_FLIGHT` APPEND calls in flight on the command connection, each still one atomic
 * step and one round trip, applied in call order (docs/scaling.md, "Pipelined server changes").
 *
 * Redis runs the commands of one connection in the order they arrive, so pipelined appends take
 * their seqs in call order, unless one fails and a later one does not: an EVALSHA that meets an
 * emptied script cache (SCRIPT FLUSH, a restart) answers NOSCRIPT, and a later one succeeds once
 * anyone (this lane's retry, another instance) has loaded the script again. So every append of a
 * run carries its place `n`, and the script applies the n-th only right after the (n−1)-th took
 * its step (else `outOfOrder`, nothing changed):
 *
 * ```
 *   send (run R, n) while < MAX in flight ──▶ applied / refused / error ──▶ settled, in order
 *                                         ──▶ NOSCRIPT or outOfOrder ──▶ stop sending; once every
 *        append in flight has answered, send again from the first unsettled one as a new run
 *        (after a NOSCRIPT, that one alone, by EVALSHA falling back to EVAL, which loads the script)
 * ```
 *
 * Every resumption starts a run whose first append needs no predecessor, so each settles at
 * least one change: the lane never loops.
 */

/** Appends of one lane in flight at once: enough to cover a round trip at the rates measured (docs/scaling.md). */
export const MAX_APPENDS_IN_FLIGHT = 32;

/** Where the lane writes a change's run and place into the APPEND arguments (0-based: ARGV[7] and ARGV[9]). */
const RUN_ARG = 6;
const N_ARG = 8;

export interface LaneSender {
  /** One APPEND with these keys and arguments: EVALSHA, or with `load` EVALSHA falling back to EVAL. */
  send(keys: readonly string[], args: ReadonlyArray<string | number>, load: boolean): Promise<unknown>;
  /** Whether `error` is Redis's NOSCRIPT (the script is not in its cache). */
  isNoScript(error: unknown): boolean;
}

interface Item {
  keys: readonly string[];
  args: Array<string | number>;
  resolve(reply: unknown[]): void;
  reject(error: unknown): void;
}

export class ServerLane {
  private waiting: Item[] = [];
  private waitingHead = 0;
  /** Sent, not answered, in the order sent. */
  private readonly inFlight: Item[] = [];
  /** Answered NOSCRIPT or outOfOrder: sent again, first, once nothing is in flight. */
  private again: Item[] = [];
  private runs = 0;
  private run = '';
  private n = 0;
  private stalled = false;
  private noScript = false;

  constructor(
    /** Names this lane's runs (unique among the engines sharing the Redis). */
    private readonly name: string,
    private readonly sender: LaneSender,
    /** Called when nothing is pending any more (the engine forgets the lane). */
    private readonly onIdle: () => void = () => {},
  ) {}

  /** Appends in flight or waiting (for tests and stats). */
  get pending(): number {
    return this.inFlight.length + this.again.length + this.waiting.length - this.waitingHead;
  }

  /** Sends an APPEND of a server change (`args` as the script takes them; the lane fills in its run and place) and resolves with its reply. */
  append(keys: readonly string[], args: Array<string | number>): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ keys, args, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (!this.stalled && this.waitingHead < this.waiting.length && this.inFlight.length < MAX_APPENDS_IN_FLIGHT) {
      const item = this.waiting[this.waitingHead] as Item;
      this.waiting[this.waitingHead++] = undefined as unknown as Item;
      // Nothing in flight: no predecessor to stay behind, a new run (its first needs none and
      // overwrites the order key, so a run's name need not differ from an earlier lane's).
      if (this.inFlight.length === 0) {
        this.run = `${this.name}.${++this.runs}`;
        this.n = 0;
      }
      item.args[RUN_ARG] = this.run;
      item.args[N_ARG] = ++this.n;
      this.inFlight.push(item);
      // After a NOSCRIPT: this one alone, loading the script again, before the others follow.
      const load = this.noScript;
      if (load) {
        this.noScript = false;
        this.stalled = true;
      }
      this.sender.send(item.keys, item.args, load).then(
        (reply) => this.answered(item, reply, undefined),
        (error: unknown) => this.answered(item, undefined, error),
      );
    }
    if (this.waitingHead === this.waiting.length && this.waitingHead > 0) {
      this.waiting = [];
      this.waitingHead = 0;
    }
  }

  private answered(item: Item, reply: unknown, error: unknown): void {
    const at = this.inFlight.indexOf(item);
    if (at >= 0) this.inFlight.splice(at, 1);
    const noScript = reply === undefined && this.sender.isNoScript(error);
    if (noScript || (Array.isArray(reply) && reply[0] === 'outOfOrder')) {
      this.again.push(item);
      this.stalled = true;
      if (noScript) this.noScript = true;
    } else if (reply === undefined) item.reject(error);
    else item.resolve(reply as unknown[]);
    if (this.stalled && this.inFlight.length === 0) {
      // Every append in flight answered: those to send again go first, in their order.
      if (this.again.length > 0) {
        this.waiting = [...this.again, ...this.waiting.slice(this.waitingHead)];
        this.waitingHead = 0;
        this.again = [];
      }
      this.stalled = false;
    }
    this.pump();
    if (this.pending === 0) this.onIdle();
  }
}
