/**
 * Outgoing WebSocket frames built once and written to many sockets, and written together: what
 * makes a broadcast cost about one `memcpy` per receiver instead of a frame, a stream write and a
 * system call per receiver per patch (issue 14; the profile of a 1,000-connection feed spent 40 %
 * of the server's time in one `writev` per receiver per patch).
 *
 * - `sharedFrames()`: the core sends the same string to every holder of a channel; it is encoded
 *   and framed (RFC 6455 §5.2: unmasked, FIN, text) once, into one Buffer.
 * - `FrameWriter`: per socket, a frame goes out at once when no write is in flight; the frames
 *   that arrive while one is (the rest of a burst, or while the socket drains) go out together as
 *   one write when it completes, and sockets that got the same frames in the same order (every
 *   holder of a channel fed in that burst) share one concatenated Buffer.
 *
 * Writing a pre-built frame needs one `ws` internal, `sender.sendFrame` (what engine.io does for
 * socket.io's broadcasts). It is confined to `rawFrameWriter`; without it (another `ws`, or a
 * connection with permessage-deflate, whose frames must be compressed) every frame goes through
 * the public `ws.send` instead. test/server/ws-frames.test.ts fails when the internal changes.
 */
import { WebSocket } from 'ws';

/**
 * A socket's frames are written at once when they reach this many bytes: a large frame (a
 * snapshot, a piece of a chunked one) goes out as it would unbatched, and the bytes a
 * connection holds here, which the slow-consumer bound counts, stay small.
 */
export const FLUSH_BYTES = 16_384;

/** The first byte of an unfragmented text frame: FIN and opcode 1. */
const FIN_TEXT = 0x81;

/**
 * `text` as one complete server-to-client text frame (unmasked, FIN): header and UTF-8 payload in
 * one Buffer, the text encoded straight into it (no Buffer of the payload alone to copy from).
 */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = FIN_TEXT;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, header, length, 'utf8');
  return frame;
}

/** The payload of a frame built by `textFrame` (a view, no copy). */
export function payloadOf(frame: Buffer): Buffer {
  const code = (frame[1] as number) & 0x7f;
  return frame.subarray(code < 126 ? 2 : code === 126 ? 4 : 10);
}

/**
 * Encodes and frames outgoing texts, one Buffer per text. The core sends the same string to every
 * connection for a broadcast patch and for the snapshot of one (epoch, seq): one Buffer written to
 * every socket, where a string would be encoded and copied per connection (1,000 hellos on a 1 MiB
 * document held 1,000 MiB). The snapshot has its own slot, apart from every other frame (patches,
 * acks, pongs): a pong or an ack between two hellos must not make the next hello encode ~1 MiB again.
 */
export function sharedFrames(): (text: string) => Buffer {
  let snapshot: { text: string; frame: Buffer } | undefined;
  let other: { text: string; frame: Buffer } | undefined;
  return (text) => {
    if (text.startsWith('{"type":"snapshot"')) {
      if (snapshot?.text !== text) snapshot = { text, frame: textFrame(text) };
      return snapshot.frame;
    }
    if (other?.text !== text) other = { text, frame: textFrame(text) };
    return other.frame;
  };
}

/** Writes already-framed bytes to the socket behind `ws`, in order with ws's own frames. */
type RawWrite = (data: Buffer, callback: (error?: Error) => void) => void;

/**
 * `ws`'s own frame writer (`sender.sendFrame`, internal): undefined when this `ws` has none or when
 * the connection negotiated an extension (permessage-deflate), whose frames must go through it.
 */
export function rawFrameWriter(ws: WebSocket): RawWrite | undefined {
  if (ws.extensions !== '') return undefined;
  const sender = (ws as unknown as { _sender?: { sendFrame?: unknown } })._sender;
  if (sender === undefined || typeof sender.sendFrame !== 'function') return undefined;
  const sendFrame = sender.sendFrame as (list: Buffer[], callback: (error?: Error) => void) => void;
  return (data, callback) => sendFrame.call(sender, [data], callback);
}

// ── frames that wait for the socket's write in flight go out together ──

/** The last batch written, concatenated: the next socket with the same frames reuses it. */
let lastBatch: { frames: Buffer[]; data: Buffer } | undefined;
let forgetScheduled = false;

function forgetLastBatch(): void {
  lastBatch = undefined;
  forgetScheduled = false;
}

function sameFrames(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The frames of one socket. A frame is written at once when the socket has no write of ours in
 * flight (no added latency); otherwise it waits, with every frame after it, until that write
 * completed, and they all go out as one write. A write the kernel took whole completes at the
 * end of this turn of the loop (Node calls its callback on `process.nextTick`), so a burst of k
 * frames in one turn costs two writes, not k; a socket whose kernel buffer is full gets one write
 * per drain. This is how engine.io writes a socket.io socket's queued packets.
 */
export class FrameWriter {
  private frames: Buffer[] = [];
  /** Bytes queued here, not yet handed to the socket. */
  queuedBytes = 0;
  /** Writes handed to the socket that have not completed (each holds a request and buffers). */
  pendingWrites = 0;
  private corked = false;
  private readonly raw: RawWrite | undefined;
  private readonly onWritten = () => {
    this.pendingWrites--;
    this.written();
    if (this.pendingWrites === 0) this.flush();
  };

  constructor(
    private readonly ws: WebSocket,
    /** Called once per write handed to the socket, when it completed (or failed). */
    private readonly written: () => void,
  ) {
    this.raw = rawFrameWriter(ws);
  }

  /** Whether frames go out pre-built (false: through `ws.send`, one by one). */
  get preEncoded(): boolean {
    return this.raw !== undefined;
  }

  /** Sends a frame built by `textFrame`: now, or with the frames waiting for the write in flight or the cork (at once past `FLUSH_BYTES`). */
  write(frame: Buffer): void {
    this.frames.push(frame);
    this.queuedBytes += frame.length;
    if ((this.pendingWrites === 0 && !this.corked) || this.queuedBytes >= FLUSH_BYTES) this.flush();
  }

  /**
   * Holds the frames written until `uncork` (while the server handles one inbound frame): the
   * answers to it, an op's patch to its own sender and its ack, go out as one write, not two
   * (issue 14, scenario 11 (b): a write system call per op saved). Nothing waits past the turn
   * that handles the frame; `flush` still writes at once.
   */
  cork(): void {
    this.corked = true;
  }

  uncork(): void {
    this.corked = false;
    if (this.pendingWrites === 0) this.flush();
  }

  /** Writes what waits now (before a close frame, which must not pass it). */
  flush(): void {
    const frames = this.frames;
    if (frames.length === 0) return;
    this.frames = [];
    this.queuedBytes = 0;
    // Closed or closing meanwhile: what it was sent is dropped, as a send to a closed socket is.
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.pendingWrites++;
    if (this.raw === undefined) {
      const last = frames.length - 1;
      for (let i = 0; i < last; i++) this.ws.send(payloadOf(frames[i] as Buffer), { binary: false });
      this.ws.send(payloadOf(frames[last] as Buffer), { binary: false }, this.onWritten);
      return;
    }
    this.raw(frames.length === 1 ? (frames[0] as Buffer) : concatenated(frames), this.onWritten);
  }
}

/** `frames` as one Buffer; the sockets of one broadcast, flushed one after another, share it. */
function concatenated(frames: Buffer[]): Buffer {
  if (lastBatch !== undefined && sameFrames(lastBatch.frames, frames)) return lastBatch.data;
  lastBatch = { frames, data: Buffer.concat(frames) };
  // Held until the callbacks queued now have run, not longer (it may hold a snapshot).
  if (!forgetScheduled) {
    forgetScheduled = true;
    process.nextTick(forgetLastBatch);
  }
  return lastBatch.data;
}
