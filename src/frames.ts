/** Frame helpers shared by the client, the server and the simulator. */
import type { Frame } from './types.js';

const encoder = new TextEncoder();

/** Any UTF-16 unit that is not ASCII (one byte in UTF-8). */
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * From this many UTF-16 units on, an ASCII string is found by one `RegExp.test` (native code)
 * instead of a JS loop per unit. Under callgrind a 143-unit patch frame took 1.5k instructions that
 * way against 4.7k in the loop at its best, and 27k in the server's `appendLog`, where V8 inlined
 * the loop with a generic property load per unit (issue 14, scenario 11 (b); `measureValue`'s
 * inlined `jsonStringBytes` did the same for the short keys and values of a row). At 4 to 8 units
 * the test costs about 100 instructions more than the loop at its best, far less than the loop with
 * its generic loads.
 */
export const SCAN_FROM_UNITS = 4;

/** UTF-8 byte length of a string, without allocating. */
export function utf8Length(text: string): number {
  if (text.length >= SCAN_FROM_UNITS && !NON_ASCII.test(text)) return text.length;
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
