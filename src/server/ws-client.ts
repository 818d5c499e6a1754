/**
 * One WebSocket connection as the Node server keeps it (its socket, its place in the caps,
 * its timers, what a stall holds back), and the two conversions between ws and the sync core:
 * a received frame in, a close reason out.
 */
import type { RawData, WebSocket } from 'ws';
import { SERVER_LIMITS } from './server-options.js';
import { textFrame, type FrameWriter } from './ws-frames.js';

/** Cuts `reason` to what fits in a close frame (123 UTF-8 bytes), never inside a character. */
export function fitCloseReason(reason: string): string {
  if (Buffer.byteLength(reason) <= SERVER_LIMITS.maxCloseReasonBytes) return reason;
  let fitted = '';
  for (const char of reason) {
    if (Buffer.byteLength(fitted + char) > SERVER_LIMITS.maxCloseReasonBytes - 3) break;
    fitted += char;
  }
  return `${fitted}...`;
}

/** A frame ws delivered, as `session.receive` takes it: text as a string, binary as exactly its bytes. */
export function frameInput(data: RawData, isBinary: boolean): string | ArrayBuffer {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (!isBinary) return buffer.toString('utf8');
  // A Buffer is often a view on a larger chunk shared with other frames: copy out exactly its bytes.
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
}

/** A frame is text, or a frame already built (`textFrame`) when it is shared by several connections. */
export type Held = { kind: 'frame'; data: string | Buffer } | { kind: 'close'; code: number | undefined; reason: string };

/** The frame to write for a held frame's data. */
export function builtFrame(data: string | Buffer): Buffer {
  return typeof data === 'string' ? textFrame(data) : data;
}

export interface Client {
  ws: WebSocket;
  /** The key its per-address limits count under: its address (`trustProxy` applied) grouped by `addressGroup` (IPv6 per /64). */
  address: string;
  /** Counted against the connection caps (false when it was refused at accept). */
  counted: boolean;
  /** The hello deadline, then the end of an authentication hold. */
  helloTimer: unknown;
  holdTimer: unknown;
  /** Answered the last ws ping (or none was sent yet). */
  alive: boolean;
  /** Frames held while stalled; null when not stalled. */
  held: Held[] | null;
  heldBytes: number;
  /** Its outgoing frames (their writes in flight, and those waiting for them). */
  frames: FrameWriter;
  stallTimer: NodeJS.Timeout | undefined;
  /** Terminates the socket when a close the server sent is not completed in time (`closeGraceMs`). */
  closeTimer: unknown;
}

