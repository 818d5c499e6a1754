/**
 * What goes over the wire in the bench: the sync protocol's `snapshot` and
 * `patch` frames (see docs/protocol.md), built as text without JSON.stringify
 * so the server never limits a client, and the WebSocket framing the blast
 * server writes by hand. Shared by the bench server and the clients (which
 * check the final state against `expectedRows`).
 */

/** Distinct keys the patches cycle through: the rendered table has this many rows. */
export const ROWS = 200;

export interface Row {
  price: number;
  qty: number;
  side: 'buy' | 'sell';
  venue: string;
}

const VENUES = ['XNAS', 'XNYS', 'ARCX', 'BATS'] as const;

export function keyFor(seq: number): string {
  return `row-${String(seq % ROWS).padStart(3, '0')}`;
}

/** The row patch `seq` sets, as JSON text: a price with two decimals, a quantity, a side and a venue. */
function rowText(seq: number): string {
  const cents = 10_000 + ((seq * 7919) % 100_000);
  const price = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
  return `{"price":${price},"qty":${(seq * 31) % 1000},"side":"${seq % 2 === 0 ? 'sell' : 'buy'}","venue":"${VENUES[seq % 4]}"}`;
}

/** The row patch `seq` sets, as a value. */
export function rowFor(seq: number): Row {
  return JSON.parse(rowText(seq)) as Row;
}

/** `{"type":"patch","epoch":…,"seq":…,"set":{"row-…":{…}}}`, about 115 bytes. */
export function patchText(epoch: string, seq: number): string {
  return `{"type":"patch","epoch":"${epoch}","seq":${seq},"set":{"${keyFor(seq)}":${rowText(seq)}}}`;
}

/** The same patch on a channel (protocol version 2): the frame names its channel. */
export function channelPatchText(channel: string, epoch: string, seq: number): string {
  return `{"type":"patch","channel":"${channel}","epoch":"${epoch}","seq":${seq},"set":{"${keyFor(seq)}":${rowText(seq)}}}`;
}

export function snapshotText(epoch: string, seq: number, data: Readonly<Record<string, Row>>): string {
  return JSON.stringify({ type: 'snapshot', epoch, seq, data });
}

/** The hello every baseline client sends on open, as statesocket's sync protocol does. */
export const HELLO = '{"type":"hello","v":1}';

/** The data a store holds after patches 1..n (the last patch of every key wins). */
export function expectedRows(n: number): Record<string, Row> {
  const rows: Record<string, Row> = {};
  for (let seq = Math.max(1, n - ROWS + 1); seq <= n; seq++) rows[keyFor(seq)] = rowFor(seq);
  return rows;
}

/**
 * Unmasked server-to-client text frames (RFC 6455 §5.2), back to back in one
 * buffer: the blast server writes them straight to the TCP socket. Texts must be ASCII.
 */
export function encodeTextFrames(texts: Iterable<string>): Buffer {
  const list = [...texts];
  let total = 0;
  for (const text of list) total += text.length + (text.length < 126 ? 2 : text.length < 65_536 ? 4 : 10);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const text of list) {
    out[offset++] = 0x81; // FIN + text opcode
    if (text.length < 126) out[offset++] = text.length;
    else if (text.length < 65_536) {
      out[offset++] = 126;
      out.writeUInt16BE(text.length, offset);
      offset += 2;
    } else {
      out[offset++] = 127;
      out.writeBigUInt64BE(BigInt(text.length), offset);
      offset += 8;
    }
    offset += out.write(text, offset, 'latin1');
  }
  return out;
}

/** The epoch of the blast stream: every blast starts at seq 0 with an empty snapshot. */
export const BLAST_EPOCH = 'blast';

/** A snapshot and patches 1..n, framed: what `/blast?n=` sends. */
export function* blastTexts(n: number): Generator<string> {
  yield snapshotText(BLAST_EPOCH, 0, {});
  for (let seq = 1; seq <= n; seq++) yield patchText(BLAST_EPOCH, seq);
}

/**
 * The same stream on a channel (protocol version 2), what `/blast?n=&channel=` sends: the
 * `welcome`, the channel's snapshot and `synced`, then patches 1..n naming the channel, written
 * without waiting for the client's hello and subscribe (a version 2 client reads them in order
 * after its own, as it would from a server that answered at once).
 */
export function* blastChannelTexts(n: number, channel: string): Generator<string> {
  yield `{"type":"welcome","v":2,"client":"bench","user":null,"maxMessageBytes":1048576,"time":0}`;
  yield `{"type":"snapshot","channel":"${channel}","epoch":"${BLAST_EPOCH}","seq":0,"data":{}}`;
  yield `{"type":"synced","channel":"${channel}","epoch":"${BLAST_EPOCH}","seq":0}`;
  for (let seq = 1; seq <= n; seq++) yield channelPatchText(channel, BLAST_EPOCH, seq);
}

// ── protocol version 2 (docs/protocol.md), for clients that speak it by hand ──

/** `hello {v: 2, client}`: a version 2 greeting with the client's id. */
export function helloV2Text(client: string): string {
  return `{"type":"hello","v":2,"client":"${client}"}`;
}

/** `subscribe {channel}`: no position, so the answer is a snapshot and `synced`. */
export function subscribeText(channel: string): string {
  return `{"type":"subscribe","channel":"${channel}"}`;
}

/** `op {channel, n, set}`: op number `n` of this client on this channel, one row set. */
export function opText(channel: string, n: number, seq: number): string {
  return `{"type":"op","channel":"${channel}","n":${n},"set":{"${keyFor(seq)}":${rowText(seq)}}}`;
}

/** The protocol's own heartbeat frame; the server answers `{"type":"pong"}`. */
export const PING = '{"type":"ping"}';
