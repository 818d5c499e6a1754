/**
 * Pre-built frames and one write per socket per turn of the loop (src/server/ws-frames.ts), over
 * real `ws` sockets on 127.0.0.1. The first tests fail when the `ws` internal the fast path uses
 * (`sender.sendFrame`) or its framing changes: then `rawFrameWriter` must be revisited.
 */
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import * as ws from 'ws';
import { WebSocket, WebSocketServer } from 'ws';
import { FLUSH_BYTES, FrameWriter, payloadOf, rawFrameWriter, sharedFrames, textFrame } from '../../src/server/ws-frames.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';

interface Pair {
  server: WebSocket;
  client: WebSocket;
  /** Texts the client received, in order. */
  received: string[];
  closed: Promise<number>;
}

/** A ws server on 127.0.0.1 port 0 and one client connected to it; both closed after the test. */
async function connectedPair(perMessageDeflate = false): Promise<Pair> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate });
  onCleanup(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  await withTimeout(new Promise((resolve) => wss.once('listening', resolve)), 'the server to listen');
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { perMessageDeflate });
  onCleanup(() => client.terminate());
  const received: string[] = [];
  client.on('message', (data: Buffer) => received.push(data.toString('utf8')));
  const closed = new Promise<number>((resolve) => client.once('close', (code: number) => resolve(code)));
  const server = await withTimeout(accepted, 'the connection');
  onCleanup(() => server.terminate());
  await withTimeout(new Promise((resolve) => client.once('open', resolve)), 'the client to open');
  return { server, client, received, closed };
}

async function receive(pair: Pair, count: number): Promise<string[]> {
  await withTimeout(
    new Promise<void>((resolve) => {
      const check = () => (pair.received.length >= count ? resolve() : setTimeout(check, 5));
      check();
    }),
    `${count} messages (${pair.received.length} so far)`,
  );
  return pair.received;
}

/** ws's own framing of a server text message: `Sender.frame` (a public static of ws, absent from its types). */
function framedByWs(payload: Buffer): Buffer {
  const sender = (ws as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }).Sender;
  return Buffer.concat(sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
}

describe('pre-built frames', () => {
  it.each([0, 1, 125, 126, 65_535, 65_536, 70_000])('frames a %i-byte payload as ws itself does', (length) => {
    const text = 'a'.repeat(length);
    const frame = textFrame(text);
    expect(frame.equals(framedByWs(Buffer.from(text)))).toBe(true);
    expect(payloadOf(frame).toString('utf8')).toBe(text);
  });

  it.each([124, 125, 65_534, 65_535])('sizes the header by the UTF-8 bytes of the text, not its length (%i units and a euro sign)', (units) => {
    const text = `${'a'.repeat(units)}€`;
    const frame = textFrame(text);
    expect(frame.equals(framedByWs(Buffer.from(text)))).toBe(true);
    expect(payloadOf(frame).toString('utf8')).toBe(text);
  });

  it('keeps one frame per text, and one per snapshot apart from the rest', () => {
    const shared = sharedFrames();
    const snapshot = '{"type":"snapshot","data":{}}';
    const first = shared(snapshot);
    const pong = shared('{"type":"pong"}');
    expect(shared(snapshot)).toBe(first);
    expect(shared('{"type":"pong"}')).toBe(pong);
    expect(payloadOf(first).toString('utf8')).toBe(snapshot);
  });
});

describe('the ws internal the fast path needs', () => {
  it('is there on a connection without extensions (sender.sendFrame): if this fails, ws changed', async () => {
    const pair = await connectedPair();
    expect(rawFrameWriter(pair.server), 'ws no longer has sender.sendFrame: revisit rawFrameWriter in src/server/ws-frames.ts').toBeTypeOf('function');
    const write = rawFrameWriter(pair.server)!;
    const done = new Promise<Error | undefined>((resolve) => write(Buffer.concat([textFrame('one'), textFrame('two')]), resolve));
    expect(await withTimeout(done, 'the write callback')).toBeFalsy();
    expect(await receive(pair, 2)).toEqual(['one', 'two']);
  });

  it('is not used when permessage-deflate was negotiated (its frames must be compressed)', async () => {
    const pair = await connectedPair(true);
    expect(pair.server.extensions).toContain('permessage-deflate');
    expect(rawFrameWriter(pair.server)).toBeUndefined();
  });
});

/** Resolves once `done()` is true (polled; bounded by the safety timeout). */
function until(done: () => boolean, what: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const check = () => (done() ? resolve() : setTimeout(check, 5));
      check();
    }),
    what,
  );
}

describe('writes: at once when none is in flight, together behind one that is', () => {
  it('writes the first frame at once and the frames of the same turn behind it as one write, in order', async () => {
    const pair = await connectedPair();
    let completions = 0;
    const writer = new FrameWriter(pair.server, () => completions++);
    expect(writer.preEncoded).toBe(true);
    const texts = ['{"seq":1}', '{"seq":2}', '{"seq":3}'];
    writer.write(textFrame(texts[0]!));
    expect(writer.pendingWrites).toBe(1);
    expect(writer.queuedBytes).toBe(0);
    writer.write(textFrame(texts[1]!));
    writer.write(textFrame(texts[2]!));
    expect(writer.pendingWrites).toBe(1);
    expect(writer.queuedBytes).toBeGreaterThan(0);
    expect(await receive(pair, 3)).toEqual(texts);
    await until(() => completions === 2, 'two writes to complete');
    expect(writer.pendingWrites).toBe(0);
    expect(writer.queuedBytes).toBe(0);
  });

  it('holds the frames written while corked and writes them as one at uncork, FLUSH_BYTES aside', async () => {
    const pair = await connectedPair();
    let completions = 0;
    const writer = new FrameWriter(pair.server, () => completions++);
    writer.cork();
    writer.write(textFrame('patch'));
    writer.write(textFrame('ack'));
    expect(writer.pendingWrites).toBe(0);
    expect(writer.queuedBytes).toBeGreaterThan(0);
    writer.uncork();
    expect(writer.pendingWrites).toBe(1);
    expect(writer.queuedBytes).toBe(0);
    expect(await receive(pair, 2)).toEqual(['patch', 'ack']);
    await until(() => completions === 1, 'the one write to complete');
    // Corked, a frame that reaches FLUSH_BYTES still goes at once; an uncork with nothing held writes nothing.
    writer.cork();
    writer.write(textFrame('z'.repeat(FLUSH_BYTES)));
    expect(writer.pendingWrites).toBe(1);
    writer.uncork();
    expect(writer.pendingWrites).toBe(1);
    expect((await receive(pair, 3))[2]).toHaveLength(FLUSH_BYTES);
    await until(() => completions === 2, 'the second write to complete');
  });

  it('gives sockets fed the same frames the same bytes', async () => {
    const a = await connectedPair();
    const b = await connectedPair();
    const writers = [a, b].map((pair) => new FrameWriter(pair.server, () => {}));
    const frames = ['x', 'y', 'z'].map((text) => textFrame(text));
    for (const writer of writers) for (const frame of frames) writer.write(frame);
    expect(await receive(a, 3)).toEqual(['x', 'y', 'z']);
    expect(await receive(b, 3)).toEqual(['x', 'y', 'z']);
  });

  it('does not hold back FLUSH_BYTES behind a write in flight', async () => {
    const pair = await connectedPair();
    const writer = new FrameWriter(pair.server, () => {});
    writer.write(textFrame('small'));
    writer.write(textFrame('z'.repeat(FLUSH_BYTES)));
    expect(writer.pendingWrites).toBe(2);
    expect(writer.queuedBytes).toBe(0);
    const [first, second] = await receive(pair, 2);
    expect(first).toBe('small');
    expect(second).toHaveLength(FLUSH_BYTES);
  });

  it('lets a close frame follow the frames waiting before it when flushed first', async () => {
    const pair = await connectedPair();
    const writer = new FrameWriter(pair.server, () => {});
    writer.write(textFrame('first'));
    writer.write(textFrame('last words'));
    writer.flush();
    pair.server.close(4000, 'bye');
    expect(await withTimeout(pair.closed, 'the close')).toBe(4000);
    expect(pair.received).toEqual(['first', 'last words']);
  });

  it('drops what a closed socket is sent, as a send to a closed socket is', async () => {
    const pair = await connectedPair();
    const writer = new FrameWriter(pair.server, () => {});
    pair.server.close(1000);
    writer.write(textFrame('too late'));
    expect(writer.pendingWrites).toBe(0);
    expect(writer.queuedBytes).toBe(0);
    expect(await withTimeout(pair.closed, 'the close')).toBe(1000);
    expect(pair.received).toEqual([]);
  });

  it('sends through ws.send, frame by frame, where the fast path is not available', async () => {
    const pair = await connectedPair(true);
    let completions = 0;
    const writer = new FrameWriter(pair.server, () => completions++);
    expect(writer.preEncoded).toBe(false);
    for (const text of ['a', 'b', 'c']) writer.write(textFrame(text));
    expect(await receive(pair, 3)).toEqual(['a', 'b', 'c']);
    await until(() => completions === 2, 'the two writes to complete');
  });
});
