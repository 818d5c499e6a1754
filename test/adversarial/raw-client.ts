/**
 * A client written from docs/protocol-v1.md alone, on a bare `ws` socket: it
 * sends what a test tells it and records every frame and the close. For
 * attacks the library's own client would refuse to send. Every socket is
 * terminated after the test (test/support/cleanup.ts).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { onCleanup, withTimeout } from '../support/cleanup.js';

export interface Frame {
  type: string;
  [key: string]: unknown;
}

export interface RawClient {
  ws: WebSocket;
  frames: Frame[];
  close: { code: number; reason: string } | null;
  send(frame: unknown): void;
  /** Resolves with the first frame at index `from` or later that matches. */
  next(predicate: (frame: Frame) => boolean, what: string, from?: number, timeoutMs?: number): Promise<Frame>;
  closed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
}

export async function rawClient(url: string): Promise<RawClient> {
  const ws = new WebSocket(url);
  const events = new EventEmitter();
  const client: RawClient = {
    ws,
    frames: [],
    close: null,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    next(predicate, what, from = 0, timeoutMs) {
      const find = () => client.frames.slice(from).find(predicate);
      return withTimeout(
        new Promise<Frame>((resolve, reject) => {
          const check = () => {
            const found = find();
            if (found !== undefined) {
              events.off('frame', check);
              events.off('close', check);
              resolve(found);
            } else if (client.close !== null) {
              events.off('frame', check);
              events.off('close', check);
              reject(new Error(`closed (${client.close.code} ${client.close.reason}) before ${what}`));
            }
          };
          events.on('frame', check);
          events.on('close', check);
          check();
        }),
        what,
        timeoutMs,
      );
    },
    closed: (timeoutMs) =>
      withTimeout(
        new Promise((resolve) => {
          const check = () => {
            if (client.close === null) return;
            events.off('close', check);
            resolve(client.close);
          };
          events.on('close', check);
          check();
        }),
        'the close',
        timeoutMs,
      ),
  };
  ws.on('message', (data) => {
    client.frames.push(JSON.parse(data.toString()) as Frame);
    events.emit('frame');
  });
  ws.on('close', (code, reason) => {
    client.close = { code, reason: reason.toString() };
    events.emit('close');
  });
  ws.on('error', () => {}); // the close carries what tests look at
  onCleanup(() => ws.terminate());
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', () => reject(new Error(`${url} closed before it opened`)));
  }), `${url} to open`);
  return client;
}

/** A raw client that has sent its hello and received its snapshot. */
export async function greetedClient(url: string, hello: Record<string, unknown> = {}): Promise<{ client: RawClient; snapshot: Frame }> {
  const client = await rawClient(url);
  client.send({ type: 'hello', v: 1, ...hello });
  const snapshot = await client.next((f) => f.type === 'snapshot' || f.type === 'patch', 'the snapshot or replay');
  return { client, snapshot };
}

/**
 * A raw TCP client that completes the WebSocket handshake, sends its hello
 * (a masked text frame, RFC 6455 §5.3) and then never reads again: a slow
 * consumer. Destroyed after the test.
 */
export function nonReadingClient(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  onCleanup(() => {
    socket.destroy();
  });
  socket.on('error', () => {});
  const upgraded = new Promise<Socket>((resolve, reject) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
      const payload = Buffer.from('{"type":"hello","v":1}');
      const mask = randomBytes(4);
      const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((byte, i) => byte ^ mask[i % 4]!)]);
      socket.write(frame);
      socket.pause();
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed during the handshake')));
  });
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  return withTimeout(upgraded, 'a non-reading client to upgrade');
}
