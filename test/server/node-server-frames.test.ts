/**
 * How the Node server hands frames to ws: the snapshot and broadcast patches are shared Buffers,
 * and still arrive as text frames.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startSyncServer } from '../../src/server/start.js';
import { createSyncServer } from '../../src/server/sync-server.js';
import { payloadOf, sharedFrames } from '../../src/server/ws-frames.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';

interface Received {
  text: string;
  isBinary: boolean;
}

async function open(url: string): Promise<{ ws: WebSocket; received: Received[]; next: (count: number) => Promise<void> }> {
  const ws = new WebSocket(url);
  onCleanup(() => ws.terminate());
  const received: Received[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data, isBinary) => {
    received.push({ text: String(data), isBinary });
    for (const wake of waiters.splice(0)) wake();
  });
  await withTimeout(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 'the connection to open');
  const next = (count: number) =>
    withTimeout(
      new Promise<void>((resolve) => {
        const check = () => (received.length >= count ? resolve() : waiters.push(check));
        check();
      }),
      `${count} frames`,
    );
  return { ws, received, next };
}

describe('shared frames', () => {
  it('sends the shared snapshot and broadcast patches as text frames to every connection', async () => {
    const server = await startSyncServer({ control: true, host: '127.0.0.1', port: 0 });
    onCleanup(() => server.close());
    server.core.change({ set: { big: 'é'.repeat(2_000) } });
    const a = await open(server.url);
    const b = await open(server.url);
    a.ws.send('{"type":"hello","v":1}');
    b.ws.send('{"type":"hello","v":1}');
    a.ws.send('{"type":"hello","v":1}');
    await a.next(2);
    await b.next(1);
    server.core.change({ set: { n: 1 } });
    await a.next(3);
    await b.next(2);
    for (const frame of [...a.received, ...b.received]) expect(frame.isBinary).toBe(false);
    expect(JSON.parse(a.received[0]?.text ?? '')).toMatchObject({ type: 'snapshot', seq: 1, data: { big: 'é'.repeat(2_000) } });
    expect(a.received[1]?.text).toBe(a.received[0]?.text);
    expect(b.received[0]?.text).toBe(a.received[0]?.text);
    expect(JSON.parse(b.received[1]?.text ?? '')).toEqual({ type: 'patch', epoch: server.core.epoch, seq: 2, set: { n: 1 } });
    expect(a.received[2]?.text).toBe(b.received[1]?.text);
  });
});

describe('sharing encoded frames', () => {
  it('keeps one Buffer per snapshot even when pongs, acks or patches are sent between two hellos', () => {
    const core = createSyncServer({ initial: { data: { big: 'x'.repeat(1000) }, appliedOpIds: [] } });
    const sent: string[] = [];
    const session = core.connect({ send: (text) => sent.push(text), close: () => {}, bufferedAmount: 0 });
    session.receive('{"type":"hello","v":1}');
    session.receive('{"type":"ping"}');
    session.receive('{"type":"hello","v":1}');
    const [first, pong, second] = sent;
    expect(JSON.parse(first!)).toMatchObject({ type: 'snapshot' });
    expect(JSON.parse(pong!)).toMatchObject({ type: 'pong' });

    const shared = sharedFrames();
    const buffer = shared(first!);
    expect(payloadOf(shared(pong!)).toString('utf8')).toBe(pong);
    expect(shared(second!)).toBe(buffer);
    expect(payloadOf(buffer).toString('utf8')).toBe(first);
  });
});
