/** Frame helpers shared by the client, the server and the simulator. */
import type { Frame } from './types.js';

const encoder = new TextEncoder();

/** UTF-8 byte length of a string, without allocating for short ones. */
export function utf8Length(text: string): number {
  // Every UTF-16 unit encodes to at most 3 bytes: skip counting when it cannot matter.
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Size of a frame on the wire, in bytes. */
export function frameBytes(frame: Frame): number {
  if (typeof frame === 'string') return utf8Length(frame);
  return frame.byteLength;
}

/** True when the frame is larger than `limit` bytes; cheap for text far below it. */
export function exceedsBytes(frame: Frame, limit: number): boolean {
  if (typeof frame === 'string') {
    if (frame.length * 3 <= limit) return false;
    if (frame.length > limit) return true;
    return utf8Length(frame) > limit;
  }
  return frame.byteLength > limit;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The default `parse`: JSON for text frames, and for binary frames JSON of
 * their UTF-8 text. Throws on anything else; the socket turns the throw
 * into `ERR_MALFORMED_FRAME`.
 */
export function parseJsonFrame(data: string | ArrayBuffer): unknown {
  const text = typeof data === 'string' ? data : decoder.decode(data);
  return JSON.parse(text);
}

/** Serializes an outgoing message: strings and binary go as they are, anything else as JSON. */
export function encodeJsonFrame(message: unknown): Frame {
  if (typeof message === 'string') return message;
  if (message instanceof ArrayBuffer || ArrayBuffer.isView(message)) return message;
  const text = JSON.stringify(message);
  if (text === undefined) throw new TypeError(`cannot send ${typeof message}: it has no JSON form`);
  return text;
}

export { encoder as utf8Encoder };
