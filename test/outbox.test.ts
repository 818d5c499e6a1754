import { describe, expect, it } from 'vitest';
import type { Outbox, OutboxEntry } from '../machines/connection.types.js';
import { appendToOutbox, EMPTY_OUTBOX, outboxEntries, outboxOf, settleInOutbox } from '../machines/outbox.js';
import { rawProtocol } from '../src/protocol.js';
import { isStatesocketError } from '../src/errors.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import { createTestConnection } from '../src/testing/index.js';
import { ackingProtocol } from './support/acking-protocol.js';


function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (error) {
    return isStatesocketError(error) ? error.code : String(error);
  }
  return undefined;
}

describe('outbox', () => {
  it('transmits at once while open', () => {
    const t = createTestConnection();
    t.open();
    t.connection.send({ n: 1 });
    expect(t.socket.sentMessages()).toEqual([{ n: 1 }]);
    expect(t.connection.getStatus().outboxSize).toBe(0);
    expect(t.connection.getStatus().counters.sent).toBe(1);
    t.connection.stop();
  });

  it('queues while not open and flushes in order right after the greeting', () => {
    const t = createTestConnection({ greeting: () => [{ type: 'hello' }, 'auth'] });
    for (let n = 1; n <= 3; n++) t.connection.send({ n });
    expect(t.connection.getStatus().outboxSize).toBe(3);
    t.open();
    expect(t.socket.sent).toEqual(['{"type":"hello"}', 'auth', '{"n":1}', '{"n":2}', '{"n":3}']);
    expect(t.connection.getStatus().outboxSize).toBe(0);
    t.connection.send({ n: 4 });
    expect(t.socket.sent.at(-1)).toBe('{"n":4}');
    t.connection.stop();
  });

  it('refuses a send over outbox.limit before start() under the reject policy, losing nothing queued', () => {
    const t = createTestConnection({ autoStart: false, outbox: { limit: 2 } });
    t.connection.send({ n: 1 });
    t.connection.send({ n: 2 });
    expect(codeOf(() => t.connection.send({ n: 3 }))).toBe('ERR_OUTBOX_FULL');
    t.connection.start();
    expect(t.connection.getStatus().outboxSize).toBe(2);
    t.open();
    expect(t.socket.sentMessages()).toEqual([{ n: 1 }, { n: 2 }]);
    expect(t.connection.getStatus().counters.dropped).toBe(0);
    t.connection.stop();
  });

  it('sends the greeting again on every open', () => {
    const t = createTestConnection({ greeting: (context) => ({ type: 'hello', socket: context.socketId }) });
    t.open();
    t.socket.drop();
    t.connection.retry();
    t.open();
    expect(t.sockets.all.map((s) => s.sentMessages())).toEqual([[{ type: 'hello', socket: 1 }], [{ type: 'hello', socket: 2 }]]);
    t.connection.stop();
  });

  it("throws ERR_OUTBOX_FULL under 'reject' and loses nothing queued", () => {
    const t = createTestConnection({ outbox: { limit: 2 } });
    t.connection.send('a');
    t.connection.send('b');
    expect(codeOf(() => t.connection.send('c'))).toBe('ERR_OUTBOX_FULL');
    t.open();
    expect(t.socket.sent).toEqual(['a', 'b']);
    t.connection.stop();
  });

  it("drops the oldest under 'drop-oldest' and counts it", () => {
    const t = createTestConnection({ outbox: { limit: 2, overflow: 'drop-oldest' } });
    for (const frame of ['a', 'b', 'c']) t.connection.send(frame);
    expect(t.connection.getStatus().counters.dropped).toBe(1);
    t.open();
    expect(t.socket.sent).toEqual(['b', 'c']);
    t.connection.stop();
  });

  it("never drops a written entry under 'drop-oldest': the oldest one not yet written goes, else the new one", () => {
    const t = createTestConnection({ protocol: ackingProtocol, outbox: { limit: 2, overflow: 'drop-oldest' } });
    t.open();
    t.connection.send({ type: 'op', id: 'a' });
    t.socket.drop();
    // offline: b waits unwritten behind a, which is in flight (the server may have applied it)
    t.connection.send({ type: 'op', id: 'b' });
    t.connection.send({ type: 'op', id: 'c' });
    expect(t.connection.getOutbox().map((e) => [e.ackId, e.sent])).toEqual([
      ['a', true],
      ['c', false],
    ]);
    t.connection.retry();
    t.open();
    expect(t.socket.sentMessages()).toEqual([
      { type: 'op', id: 'a' },
      { type: 'op', id: 'c' },
    ]);
    // every entry written now: the new op, never written, is the one dropped
    t.connection.send({ type: 'op', id: 'd' });
    expect(t.socket.sentMessages()).toHaveLength(2);
    expect(t.connection.getOutbox().map((e) => e.ackId)).toEqual(['a', 'c']);
    expect(t.connection.getStatus().counters.dropped).toBe(2);
    t.connection.stop();
  });

  it("drops the newest under 'drop-newest' and counts it", () => {
    const t = createTestConnection({ outbox: { limit: 2, overflow: 'drop-newest' } });
    for (const frame of ['a', 'b', 'c']) t.connection.send(frame);
    expect(t.connection.getStatus().counters.dropped).toBe(1);
    t.open();
    expect(t.socket.sent).toEqual(['a', 'b']);
    t.connection.stop();
  });

  it('refuses an oversized send with ERR_PAYLOAD_TOO_LARGE and queues nothing', () => {
    const t = createTestConnection({ maxMessageBytes: 10 });
    expect(codeOf(() => t.connection.send('x'.repeat(11)))).toBe('ERR_PAYLOAD_TOO_LARGE');
    expect(codeOf(() => t.connection.send('é'.repeat(6)))).toBe('ERR_PAYLOAD_TOO_LARGE');
    t.connection.send('é'.repeat(5));
    expect(t.connection.getStatus().outboxSize).toBe(1);
    t.connection.stop();
  });

  it('fails the attempt with ERR_PAYLOAD_TOO_LARGE, sending nothing, when a greeting frame is over maxMessageBytes', () => {
    const t = createTestConnection({ maxMessageBytes: 64, greeting: () => ({ type: 'hello', token: 'x'.repeat(100) }) });
    t.connection.send('queued');
    const socket = t.open();
    const status = t.connection.getStatus();
    expect(status.state).toBe('errored');
    expect(status.lastError).toEqual({
      code: 'ERR_PAYLOAD_TOO_LARGE',
      message:
        'a greeting frame of 127 bytes exceeds maxMessageBytes (64); nothing was sent. Make the greeting smaller, or raise maxMessageBytes (and the server limit) together.',
    });
    expect(socket.sent).toEqual([]);
    expect(t.connection.getStatus().outboxSize).toBe(1);
    t.connection.stop();
  });

  it("checks the protocol's own greeting frames too", () => {
    const t = createTestConnection({ maxMessageBytes: 64, protocol: createSyncProtocol({ token: 'x'.repeat(100) }) });
    const socket = t.open();
    expect(t.connection.getStatus().lastError?.code).toBe('ERR_PAYLOAD_TOO_LARGE');
    expect(socket.sent).toEqual([]);
    t.connection.stop();
  });

  it('throws a TypeError for a message with no JSON form', () => {
    const t = createTestConnection();
    expect(() => t.connection.send(undefined)).toThrow(TypeError);
    expect(() => t.connection.send(10n)).toThrow(TypeError);
    t.connection.stop();
  });
});

describe('acknowledgements', () => {
  it('keeps an op until its ack and re-sends it after a reconnect', () => {
    const t = createTestConnection({ protocol: ackingProtocol });
    t.open();
    t.connection.send({ type: 'op', id: 'a' });
    t.connection.send({ type: 'op', id: 'b' });
    t.connection.send({ type: 'note' });
    expect(t.connection.getOutbox().map((e) => [e.ackId, e.sent])).toEqual([
      ['a', true],
      ['b', true],
    ]);
    t.socket.receive({ type: 'ack', id: 'a' });
    t.socket.drop();
    t.connection.retry();
    t.open();
    expect(t.socket.sentMessages()).toEqual([{ type: 'op', id: 'b' }]);
    t.socket.receive({ type: 'ack', id: 'b' });
    expect(t.connection.getStatus().outboxSize).toBe(0);
    t.connection.stop();
  });

  it('ignores an ack for an unknown id', () => {
    const t = createTestConnection({ protocol: ackingProtocol });
    t.open();
    t.connection.send({ type: 'op', id: 'a' });
    t.socket.receive({ type: 'ack', id: 'zzz' });
    expect(t.connection.getStatus().outboxSize).toBe(1);
    t.connection.stop();
  });

  it('passes everything through with the raw protocol', () => {
    expect(rawProtocol.encode({ type: 'op', id: 'a' })).toEqual({ frame: '{"type":"op","id":"a"}' });
  });
});

describe('backpressure', () => {
  it('holds new sends in the outbox while bufferedAmount is over maxBufferedBytes', () => {
    const t = createTestConnection({ maxBufferedBytes: 100 });
    t.open();
    t.socket.bufferedAmount = 500;
    t.connection.send('first'); // written: the socket reports congestion after it
    t.connection.send('second');
    t.connection.send('third');
    expect(t.socket.sent).toEqual(['first']);
    expect(t.connection.getStatus().outboxSize).toBe(2);
    t.advance(200);
    expect(t.socket.sent).toEqual(['first']);
    t.socket.bufferedAmount = 0;
    t.advance(50);
    expect(t.socket.sent).toEqual(['first', 'second', 'third']);
    expect(t.connection.getStatus().outboxSize).toBe(0);
    t.connection.send('fourth');
    expect(t.socket.sent.at(-1)).toBe('fourth');
    t.connection.stop();
  });
});

/** An entry of the outbox representation tests. */
const entryOf = (id: number, ackId = `op-${id}`): OutboxEntry => ({ id, frame: `f${id}`, ackId, sent: true });
const idsOf = (outbox: Outbox): number[] => outboxEntries(outbox).map((entry) => entry.id);
/** Appends entries `from`..`to` (inclusive) one by one, keeping every outbox on the way. */
function appended(from: number, to: number, outbox: Outbox = EMPTY_OUTBOX): Outbox[] {
  const steps = [outbox];
  for (let id = from; id <= to; id++) steps.push(appendToOutbox(steps[steps.length - 1]!, entryOf(id)));
  return steps;
}

describe('outbox representation (issue 15)', () => {
  it('keeps the entries in order across blocks, its size with them', () => {
    const outbox = appended(1, 100).at(-1)!;
    expect(outbox.size).toBe(100);
    expect(idsOf(outbox)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(idsOf(outboxOf(outboxEntries(outbox)))).toEqual(idsOf(outbox));
  });

  it('never changes an outbox once made: an old snapshot never sees later entries or answers', () => {
    const steps = appended(1, 70);
    const before = steps.map((outbox) => JSON.stringify(outbox));
    let outbox = steps.at(-1)!;
    for (let id = 1; id <= 40; id++) outbox = settleInOutbox(outbox, `op-${id}`);
    appended(71, 140, outbox);
    expect(steps.map((step) => JSON.stringify(step))).toEqual(before);
    steps.forEach((step, length) => expect(idsOf(step)).toEqual(Array.from({ length }, (_, i) => i + 1)));
  });

  it('shares its blocks: an append copies only the tail, an answer in order copies nothing below a block', () => {
    const full = appended(1, 64).at(-1)!;
    const more = appendToOutbox(full, entryOf(65));
    expect(more.blocks).toBe(full.blocks);
    const answered = settleInOutbox(more, 'op-1');
    expect(answered.blocks).toBe(more.blocks);
    expect(answered.tail).toBe(more.tail);
    expect(answered.start).toBe(1);
    expect(idsOf(answered)[0]).toBe(2);
  });

  it('settles an answer out of order, and ignores one nothing awaits', () => {
    let outbox = appended(1, 40).at(-1)!;
    outbox = settleInOutbox(outbox, 'op-35');
    outbox = settleInOutbox(outbox, 'op-2');
    expect(idsOf(outbox)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1).filter((id) => id !== 35 && id !== 2));
    expect(settleInOutbox(outbox, 'nobody')).toBe(outbox);
  });

  it('settles one entry per answer when two await the same id, oldest first', () => {
    const outbox = appendToOutbox(appendToOutbox(EMPTY_OUTBOX, entryOf(1, 'same')), entryOf(2, 'same'));
    expect(idsOf(settleInOutbox(outbox, 'same'))).toEqual([2]);
    expect(settleInOutbox(settleInOutbox(outbox, 'same'), 'same').size).toBe(0);
  });

  it('returns the same array from getOutbox() until the outbox changes', () => {
    const t = createTestConnection({ protocol: ackingProtocol });
    for (let i = 0; i < 40; i++) t.connection.send({ type: 'op', id: `op-${i}` });
    const first = t.connection.getOutbox();
    expect(first.map((entry) => entry.ackId)).toEqual(Array.from({ length: 40 }, (_, i) => `op-${i}`));
    expect(t.connection.getOutbox()).toBe(first);
    t.connection.send({ type: 'op', id: 'op-40' });
    expect(t.connection.getOutbox()).not.toBe(first);
    expect(first).toHaveLength(40);
    t.connection.stop();
  });
});
