import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { checkDecoded, rawProtocol, type Protocol } from '../src/protocol.js';
import { createTestConnection } from '../src/testing/index.js';

/** rawProtocol, but decode returns `result` for every message. */
const decoding = (result: unknown): Protocol => ({ ...rawProtocol, decode: () => result as never });

describe('what protocol.decode returns', () => {
  it.each([
    ['undefined', undefined, 'protocol.decode returned undefined, not an event object'],
    ['null', null, 'protocol.decode returned null, not an event object'],
    ['a number', 5, 'protocol.decode returned 5, not an event object'],
    ['a string', 'x', 'protocol.decode returned a string, not an event object'],
    ['[5]', [5], 'protocol.decode returned an array whose item 0 is 5, not an event object'],
    ['[null]', [null], 'protocol.decode returned an array whose item 0 is null, not an event object'],
    ['[undefined]', [undefined], 'protocol.decode returned an array whose item 0 is undefined, not an event object'],
    ['{}', {}, 'protocol.decode returned an event of unknown type undefined'],
    ['an unknown type', { type: 'what' }, 'protocol.decode returned an event of unknown type "what"'],
    ['an ack without id', { type: 'ack.received' }, 'protocol.decode returned an ack.received whose id is undefined, not a string'],
    ['a resync without reason', { type: 'resync.needed' }, 'protocol.decode returned a resync.needed whose reason is undefined'],
    ['a rejection without a code', { type: 'message.rejected', message: 'x' }, 'a message.rejected without an ERR_* code'],
    ['a rejection with a code that is not ERR_*', { type: 'message.rejected', code: 'nope', message: 'x' }, 'a message.rejected without an ERR_* code'],
    ['data, then an unknown type', [{ type: 'message.received', message: 1 }, { type: 'what' }], 'an array whose item 1 is an event of unknown type "what"'],
  ])('rejects and counts the frame when decode returns %s', (_name, result, message) => {
    const t = createTestConnection({ protocol: decoding(result) });
    t.open();
    expect(() => t.socket.receive({ a: 1 }, { b: 2 })).not.toThrow();
    const status = t.connection.getStatus();
    expect(status.state).toBe('open');
    expect(status.lastRejected).toEqual({ code: 'ERR_UNKNOWN_MESSAGE', message: expect.stringContaining(message) });
    expect(status.counters).toMatchObject({ received: 2, rejected: 2 });
    expect(t.connection.model.getData()).toEqual({});
    t.connection.stop();
  });

  it('names the event types in the rejection of an unknown one', () => {
    expect(checkDecoded({ type: 'what' })).toEqual({
      type: 'message.rejected',
      code: 'ERR_UNKNOWN_MESSAGE',
      message:
        'protocol.decode returned an event of unknown type "what" (the types are message.received, ack.received, pong.received, resync.needed, message.rejected, channel.synced, channel.marked, channel.resync, channel.refused, channel.unsubscribed, channel.failed, channel.presence.refused)',
    });
  });

  it('rejects a channel event without its channel', () => {
    expect(checkDecoded({ type: 'channel.synced' })).toMatchObject({ type: 'message.rejected', code: 'ERR_UNKNOWN_MESSAGE' });
    expect(checkDecoded({ type: 'channel.synced', channel: 'notes' })).toEqual({ type: 'channel.synced', channel: 'notes' });
  });

  it('passes every InboundEvent, alone or in an array, as it is', () => {
    const events = [
      { type: 'message.received', message: { a: 1 } },
      { type: 'ack.received', id: '1' },
      { type: 'pong.received' },
      { type: 'resync.needed', reason: 'gap' },
      { type: 'message.rejected', code: 'ERR_SERVER_REJECTED', message: 'no' },
    ];
    for (const event of events) expect(checkDecoded(event)).toBe(event);
    expect(checkDecoded(events)).toBe(events);
    const none: unknown[] = [];
    expect(checkDecoded(none)).toBe(none);
  });

  it('counts a rejected frame as inbound liveness: the heartbeat does not time out on a link that answers with them', () => {
    const t = createTestConnection({ protocol: decoding({ type: 'what' }), heartbeat: { intervalMs: 1_000, timeoutMs: 500 } });
    t.open();
    t.advance(1_000); // the first ping goes out
    for (let ping = 0; ping < 3; ping++) {
      t.socket.receive('"pong?"'); // answered with a frame the protocol refuses
      t.advance(1_000); // the timeout passes, and the next ping goes out
    }
    expect(t.socket.sent).toHaveLength(4);
    const status = t.connection.getStatus();
    expect(status.state).toBe('open');
    expect(status.lastError).toBeNull();
    expect(status.counters).toMatchObject({ received: 3, rejected: 3 });
    t.connection.stop();
  });

  it('checks what decode returns when it classifies the rest of a read again, after the model refused a message', () => {
    let refuse = true;
    const protocol: Protocol = {
      ...rawProtocol,
      decode: (message) => ((message as { again?: boolean }).again && !refuse ? (null as never) : { type: 'message.received', message }),
    };
    const t = createTestConnection({
      protocol,
      model: {
        update: () => {
          if (refuse) {
            refuse = false;
            throw new Error('not this one');
          }
        },
        getData: () => ({}),
      },
    });
    t.open();
    expect(() => t.socket.receive({ first: true }, { again: true })).not.toThrow();
    expect(t.connection.getStatus().lastRejected).toEqual({ code: 'ERR_UNKNOWN_MESSAGE', message: 'protocol.decode returned null, not an event object' });
    t.connection.stop();
  });

  it('says what decode returned when an inbound schema wraps the protocol', () => {
    const t = createTestConnection({ protocol: decoding(null), inbound: z.object({ a: z.number() }) });
    t.open();
    t.socket.receive({ a: 1 });
    expect(t.connection.getStatus().lastRejected).toEqual({ code: 'ERR_UNKNOWN_MESSAGE', message: 'protocol.decode returned null, not an event object' });
    t.connection.stop();
  });
});
