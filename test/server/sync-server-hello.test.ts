/**
 * Repeated hellos: one snapshot frame per (epoch, seq), shared by every hello, and the
 * slow-consumer discount for one snapshot in flight only.
 */
import { describe, expect, it, vi } from 'vitest';
import { createSyncServer, type SyncServer } from '../../src/server/sync-server.js';

/** A peer that reads nothing: every frame sent stays in its buffer. */
function nonReader(server: SyncServer) {
  const sent: string[] = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const peer = {
    buffered: 0,
    send: (text: string) => {
      sent.push(text);
      peer.buffered += Buffer.byteLength(text);
    },
    close: (code: number, reason: string) => closes.push({ code, reason }),
    get bufferedAmount() {
      return peer.buffered;
    },
  };
  const session = server.connect(peer);
  return { peer, sent, closes, session, hello: () => session.receive('{"type":"hello","v":1}') };
}

describe('repeated hellos', () => {
  it('sends every hello of one (epoch, seq) the same snapshot string, and a new one after a change', () => {
    const server = createSyncServer();
    server.change({ set: { a: 'x'.repeat(1_000) } });
    const first = nonReader(server);
    const second = nonReader(server);
    const stringify = vi.spyOn(JSON, 'stringify');
    const snapshotsBuilt = () => stringify.mock.calls.filter(([value]) => (value as { type?: unknown } | null)?.type === 'snapshot').length;
    first.hello();
    second.hello();
    first.hello();
    expect(snapshotsBuilt()).toBe(1); // built once, the same string sent three times
    expect(second.sent[0]).toBe(first.sent[0]);
    stringify.mockRestore();
    server.change({ set: { b: 1 } });
    const third = nonReader(server);
    third.hello();
    expect(JSON.parse(third.sent[0] as string)).toMatchObject({ type: 'snapshot', seq: 2, data: { b: 1 } });
    server.restart();
    const fourth = nonReader(server);
    fourth.hello();
    expect(JSON.parse(fourth.sent[0] as string)).toMatchObject({ type: 'snapshot', seq: 0, epoch: server.epoch });
  });

  it('counts a second snapshot in full while the first is still in flight: the discount does not restart on every hello', () => {
    const server = createSyncServer({ maxBufferedBytes: 1_000 });
    server.change({ set: { big: 'x'.repeat(1_000) } });
    const client = nonReader(server);
    client.hello();
    expect(client.closes).toEqual([]); // the first snapshot (about 1,050 bytes) is not counted
    client.peer.buffered = 100; // most of it went out; 100 bytes of it are still buffered
    client.hello();
    // Only those 100 bytes are discounted; the new snapshot counts in full and is over the bound.
    expect(client.closes).toEqual([{ code: 1013, reason: 'slow consumer: over 1000 bytes buffered' }]);
    expect(server.counters.slowConsumers).toBe(1);
  });

  it('discounts the snapshot of a hello sent after the previous snapshot drained (a resync)', () => {
    const server = createSyncServer({ maxBufferedBytes: 1_500 });
    server.change({ set: { big: 'x'.repeat(1_000) } });
    const client = nonReader(server);
    client.hello();
    client.peer.buffered = 0; // the snapshot went out
    server.change({ set: { a: 1 } });
    client.peer.buffered = 0;
    client.hello(); // e.g. after a sequence gap
    expect(client.sent.filter((text) => text.includes('"snapshot"'))).toHaveLength(2);
    expect(client.closes).toEqual([]);
  });
});

describe('hellos per minute', () => {
  it('closes a connection with 1013 on its hello past maxHellosPerMinute, and counts again a minute later', () => {
    const clock = { time: 0 };
    const server = createSyncServer({ maxHellosPerMinute: 3, now: () => clock.time });
    const reader = nonReader(server);
    const hello = () => {
      reader.peer.buffered = 0; // a client that reads
      reader.hello();
    };
    hello();
    hello();
    clock.time = 59_999;
    hello();
    expect(reader.closes).toEqual([]);
    expect(reader.sent).toHaveLength(3);
    hello();
    expect(reader.closes).toEqual([{ code: 1013, reason: 'too many hellos (over 3 a minute); try again later' }]);
    expect(reader.sent).toHaveLength(3); // no fourth snapshot
    expect(server.counters.helloFloods).toBe(1);

    const other = nonReader(server);
    for (let i = 0; i < 3; i++) {
      other.peer.buffered = 0;
      other.hello();
    }
    clock.time = 60_000 + 59_999; // a minute after its first hello
    other.peer.buffered = 0;
    other.hello();
    expect(other.closes).toEqual([]);
    expect(other.sent).toHaveLength(4);
  });
});

describe('a hello of another version on a greeted connection', () => {
  it('closes a version 1 session with 4400 (final) on a version 2 hello: a session never changes version', () => {
    const server = createSyncServer();
    const client = nonReader(server);
    client.hello();
    expect(JSON.parse(client.sent[0] as string)).toMatchObject({ type: 'snapshot' });
    client.session.receive('{"type":"hello","v":2,"client":"c-switch"}');
    expect(client.closes).toEqual([{ code: 4400, reason: 'unsupported protocol version 2; this session speaks 1' }]);
  });
});
