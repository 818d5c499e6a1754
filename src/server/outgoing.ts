/**
 * What one connection is sent, in order, under two bounds: the slow-consumer bound
 * (`maxBufferedBytes`, close 1013) and the client's frame limit (`hello.maxMessageBytes`: a larger
 * frame goes as `chunk` frames, docs/protocol.md "Frames larger than the limit: chunks").
 *
 * ```
 *   frame of channel C ──▶ C has frames waiting (behind a chunked frame)? ──▶ queue
 *                          larger than maxMessageBytes? ──▶ chunked frame in flight? ──▶ queue
 *                                                          else cut into pieces, send as the socket drains
 *                          else ──▶ the socket
 *   frame of no channel ──▶ the socket (pieces of a chunked frame may have it between them)
 * ```
 *
 * At most one chunked frame is in flight; no frame of its channel passes it. Its pieces go while
 * the socket holds less than `lowWaterBytes`, and more whenever the transport reports that the
 * socket drained (`drained`), or another frame is sent.
 *
 * The slow-consumer check counts the socket's buffer and the frames queued here; a snapshot sent
 * whole is not counted while it drains, one at a time (a client that asks for snapshots and
 * reads nothing still reaches the bound: the second one counts).
 */
import { utf8Length } from '../frames.js';
import type { Peer } from './sync-server.js';

/** Bytes the socket may hold before the next piece of a chunked frame waits for it to drain. */
export const LOW_WATER_BYTES = 65_536;

interface Queued {
  channel: string | undefined;
  text: string;
  bytes: number;
  snapshot: boolean;
}

interface Chunking {
  id: number;
  channel: string;
  text: string;
  bytes: number;
  /** Where each piece ends in `text` (UTF-16 index, exclusive). */
  cuts: number[];
  next: number;
  /** `{"type":"chunk","id":N,"channel":"C","i":` */
  head: string;
  /** `,"count":K,"bytes":B,"data":` */
  middle: string;
}

/** UTF-8 bytes of one UTF-16 unit (or a pair from `i`) as it appears inside a JSON string; [bytes, units]. */
function escapedAt(text: string, i: number): [number, number] {
  const unit = text.charCodeAt(i);
  if (unit < 0x20) return [unit === 8 || unit === 9 || unit === 10 || unit === 12 || unit === 13 ? 2 : 6, 1];
  if (unit === 0x22 || unit === 0x5c) return [2, 1];
  if (unit < 0x80) return [1, 1];
  if (unit < 0x800) return [2, 1];
  if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
    const next = text.charCodeAt(i + 1);
    if (next >= 0xdc00 && next <= 0xdfff) return [4, 2]; // a pair stays in one piece
  }
  if (unit >= 0xd800 && unit <= 0xdfff) return [6, 1];
  return [3, 1];
}

export class Outgoing {
  /** The client's frame limit (version 1 sessions: none). */
  maxMessageBytes = Number.POSITIVE_INFINITY;
  private queue: Queued[] = [];
  private queueHead = 0;
  /** Bytes queued (snapshots excepted: their text is shared with every other subscriber). */
  private queuedBytes = 0;
  private readonly waiting = new Map<string, number>();
  private chunking: Chunking | null = null;
  private nextId = 0;
  /** Bytes of the snapshot that may still sit in the peer's buffer (0: none), and what was queued behind it. */
  private snapshotBytes = 0;
  private sinceSnapshot = 0;
  constructor(
    private readonly peer: Peer,
    private readonly maxBufferedBytes: number,
    /** Called once when the bound is passed: the owner closes the connection (1013). */
    private readonly onSlow: () => void,
    /** Counts frames sent in chunks. */
    private readonly counters: { chunkedFrames: number } = { chunkedFrames: 0 },
  ) {}

  /** Frames waiting here (behind a chunked frame). */
  get pending(): number {
    return this.queue.length - this.queueHead + (this.chunking === null ? 0 : 1);
  }

  /** Sends one frame (`channel` undefined: a frame of no channel). False once the connection is over the bound. */
  send(channel: string | undefined, text: string, bytes = utf8Length(text), snapshot = false): boolean {
    if (channel !== undefined && (this.chunking?.channel === channel || this.waiting.has(channel))) return this.enqueue(channel, text, bytes, snapshot);
    if (bytes > this.maxMessageBytes && channel !== undefined) {
      if (this.chunking !== null) return this.enqueue(channel, text, bytes, snapshot);
      this.startChunking(channel, text, bytes);
      return this.pump();
    }
    if (!this.write(text, bytes, snapshot)) return false;
    return this.chunking === null ? true : this.pump();
  }

  /** The socket drained some: send what waits. */
  drained(): void {
    if (this.chunking !== null || this.queueHead < this.queue.length) this.pump();
  }

  private enqueue(channel: string, text: string, bytes: number, snapshot: boolean): boolean {
    this.queue.push({ channel, text, bytes, snapshot });
    this.waiting.set(channel, (this.waiting.get(channel) ?? 0) + 1);
    if (!snapshot) this.queuedBytes += bytes;
    return this.check();
  }

  private write(text: string, bytes: number, snapshot: boolean): boolean {
    // Read the peer's buffer only while a snapshot's discount runs: this runs once per receiver per patch.
    if (this.snapshotBytes > 0) this.snapshotLeft(this.peer.bufferedAmount);
    this.peer.send(text);
    if (snapshot && this.snapshotBytes === 0) {
      this.snapshotBytes = bytes;
      this.sinceSnapshot = 0;
    } else if (this.snapshotBytes > 0) {
      this.sinceSnapshot += bytes;
    }
    return this.check();
  }

  private check(): boolean {
    let buffered = this.peer.bufferedAmount;
    if (this.snapshotBytes > 0) buffered -= this.snapshotLeft(buffered);
    if (buffered + this.queuedBytes <= this.maxBufferedBytes) return true;
    this.onSlow();
    return false;
  }

  /** What is left in the peer's buffer of the snapshot in flight (0 once it drained: the discount ends). */
  private snapshotLeft(buffered: number): number {
    if (this.snapshotBytes === 0) return 0;
    const left = Math.min(this.snapshotBytes, Math.max(0, buffered - this.sinceSnapshot));
    if (left === 0) this.snapshotBytes = 0;
    return left;
  }

  private startChunking(channel: string, text: string, bytes: number): void {
    const id = this.nextId++;
    const digits = String(bytes).length; // i < count <= bytes
    const head = `{"type":"chunk","id":${id},"channel":${JSON.stringify(channel)},"i":`;
    // Room for the data of a piece: the limit less the envelope at its longest (the quotes of data included).
    const envelope = utf8Length(head) + digits + `,"count":,"bytes":,"data":""}`.length + 2 * digits;
    const room = Math.max(16, this.maxMessageBytes - envelope);
    const cuts: number[] = [];
    let size = 0;
    for (let i = 0; i < text.length; ) {
      const [b, units] = escapedAt(text, i);
      if (size + b > room && size > 0) {
        cuts.push(i);
        size = 0;
      }
      size += b;
      i += units;
    }
    cuts.push(text.length);
    this.chunking = { id, channel, text, bytes, cuts, next: 0, head, middle: `,"count":${cuts.length},"bytes":${bytes},"data":` };
    this.counters.chunkedFrames++;
  }

  /** Sends pieces while the socket has room, then frames that waited behind them. */
  private pump(): boolean {
    for (;;) {
      const c = this.chunking;
      if (c !== null) {
        while (c.next < c.cuts.length) {
          if (this.peer.bufferedAmount > LOW_WATER_BYTES) return true; // the rest as it drains
          const from = c.next === 0 ? 0 : (c.cuts[c.next - 1] as number);
          const piece = `${c.head}${c.next}${c.middle}${JSON.stringify(c.text.slice(from, c.cuts[c.next]))}}`;
          c.next++;
          if (!this.write(piece, utf8Length(piece), false)) return false;
        }
        this.chunking = null;
      }
      if (this.queueHead >= this.queue.length) {
        this.queue = [];
        this.queueHead = 0;
        return true;
      }
      const item = this.queue[this.queueHead] as Queued;
      if (item.bytes > this.maxMessageBytes && item.channel !== undefined) {
        this.shift(item);
        this.startChunking(item.channel, item.text, item.bytes);
        continue;
      }
      this.shift(item);
      if (!this.write(item.text, item.bytes, item.snapshot)) return false;
    }
  }

  private shift(item: Queued): void {
    this.queue[this.queueHead++] = undefined as unknown as Queued;
    if (!item.snapshot) this.queuedBytes -= item.bytes;
    if (item.channel === undefined) return;
    const left = (this.waiting.get(item.channel) ?? 1) - 1;
    if (left > 0) this.waiting.set(item.channel, left);
    else this.waiting.delete(item.channel);
  }
}
