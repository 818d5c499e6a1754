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

/** One APPEND's reply, or the error it got. */
export type LaneReply = { reply: unknown } | { error: unknown };

export interface LaneSender {
  /** APPENDs with these keys and arguments, in one write (a pipeline): EVALSHA each; their replies in the same order. */
  send(appends: ReadonlyArray<{ keys: readonly string[]; args: ReadonlyArray<string | number> }>): Promise<LaneReply[]>;
  /** One APPEND by EVALSHA falling back to EVAL (which loads the script again). */
  sendLoading(keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown>;
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
  private flushScheduled = false;
  private readonly flush = () => {
    this.flushScheduled = false;
    this.pump();
  };

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

  /**
   * Sends an APPEND of a server change (`args` as the script takes them; the lane fills in its run
   * and place) and resolves with its reply. The appends made in one turn of the event loop (a
   * feed's tick) go out in one write at the end of the turn, and their replies, which Redis then
   * writes together, settle together: their entries reach each subscriber in one write.
   */
  append(keys: readonly string[], args: Array<string | number>): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ keys, args, resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // Not process.nextTick: it runs before the promise jobs of this turn, and the server makes
      // each change of a tick after the last one's append (a promise job).
      setImmediate(this.flush);
    });
  }

  private pump(): void {
    let batch: Item[] | undefined;
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
      if (this.noScript) {
        // After a NOSCRIPT: this one alone, loading the script again, before the others follow.
        this.noScript = false;
        this.stalled = true;
        this.sender.sendLoading(item.keys, item.args).then(
          (reply) => this.answered([item], [{ reply }]),
          (error: unknown) => this.answered([item], [{ error }]),
        );
        break;
      }
      (batch ??= []).push(item);
    }
    if (this.waitingHead === this.waiting.length && this.waitingHead > 0) {
      this.waiting = [];
      this.waitingHead = 0;
    }
    if (batch === undefined) return;
    const sent = batch;
    this.sender.send(sent).then(
      (replies) => this.answered(sent, replies),
      (error: unknown) => this.answered(sent, sent.map(() => ({ error }))),
    );
  }

  /** The replies of appends sent together, in their order. */
  private answered(items: readonly Item[], answers: readonly LaneReply[]): void {
    items.forEach((item, i) => {
      const answer = answers[i] ?? { error: new Error('redisEngine: a pipelined APPEND got no reply') };
      const at = this.inFlight.indexOf(item);
      if (at >= 0) this.inFlight.splice(at, 1);
      const noScript = 'error' in answer && this.sender.isNoScript(answer.error);
      if (noScript || ('reply' in answer && Array.isArray(answer.reply) && answer.reply[0] === 'outOfOrder')) {
        this.again.push(item);
        this.stalled = true;
        if (noScript) this.noScript = true;
      } else if ('error' in answer) item.reject(answer.error);
      else item.resolve(answer.reply as unknown[]);
    });
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
