import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SCAN_FROM_UNITS, utf8Length } from '../src/frames.js';
import type { Protocol } from '../src/protocol.js';
import { createTestConnection } from '../src/testing/index.js';

function utf8(text: string): ArrayBuffer {
  const bytes = new TextEncoder().encode(text);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

describe('inbound frames', () => {
  it('applies messages to the model', () => {
    const t = createTestConnection();
    t.open();
    t.socket.receive({ type: 'snapshot', data: { a: 1, b: 2 } });
    t.socket.receive({ type: 'patch', set: { c: 3 }, delete: ['a'] });
    expect(t.connection.model.getData()).toEqual({ b: 2, c: 3 });
    expect(t.connection.getStatus().counters).toMatchObject({ received: 2, rejected: 0 });
    t.connection.stop();
  });

  it('parses binary frames as UTF-8 JSON', () => {
    const t = createTestConnection();
    t.open();
    t.socket.receive(utf8('{"type":"snapshot","data":{"bin":true}}'));
    expect(t.connection.model.getData()).toEqual({ bin: true });
    t.connection.stop();
  });

  it('rejects a malformed frame, keeps it as lastRejected, stays open, leaves the model alone', () => {
    const t = createTestConnection();
    t.open();
    t.socket.receive({ type: 'snapshot', data: { a: 1 } });
    t.socket.receive('{"type": "patch", "set": ');
    const status = t.connection.getStatus();
    expect(status.state).toBe('open');
    expect(status.counters).toMatchObject({ received: 2, rejected: 1 });
    expect(status.lastRejected?.code).toBe('ERR_MALFORMED_FRAME');
    expect(status.lastRejected?.message).toMatch(/^could not parse inbound frame "\{\\"type\\": \\"patch\\", \\"set\\": "/);
    expect(t.connection.model.getData()).toEqual({ a: 1 });
    t.connection.stop();
  });

  it('rejects binary that is not UTF-8', () => {
    const t = createTestConnection();
    t.open();
    t.socket.receive(new Uint8Array([0xff, 0xfe, 0x00]).buffer);
    expect(t.connection.getStatus().lastRejected?.code).toBe('ERR_MALFORMED_FRAME');
    t.connection.stop();
  });

  it('rejects an inbound frame over maxMessageBytes and stays open', () => {
    const t = createTestConnection({ maxMessageBytes: 64 });
    t.open();
    t.socket.receive({ type: 'snapshot', data: { big: 'x'.repeat(100) } });
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastRejected: { code: 'ERR_PAYLOAD_TOO_LARGE', message: 'inbound frame of 137 bytes exceeds maxMessageBytes (64)' },
    });
    expect(t.connection.model.getData()).toEqual({});
    t.connection.stop();
  });

  it('rejects what the model throws on, with ERR_MODEL_REJECTED', () => {
    const t = createTestConnection();
    t.open();
    t.socket.receive({ type: 'snapshot', data: { a: 1 } });
    t.socket.receive({ type: 'patch', set: [1, 2] });
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      counters: { received: 2, rejected: 1 },
      lastRejected: { code: 'ERR_MODEL_REJECTED', message: 'createStore: patch.set must be an object' },
    });
    expect(t.connection.model.getData()).toEqual({ a: 1 });
    t.connection.stop();
  });

  it('rejects what the protocol cannot classify, with ERR_UNKNOWN_MESSAGE', () => {
    const strict: Protocol = {
      name: 'strict',
      decode: (message) => {
        if ((message as { type?: unknown }).type !== 'data') throw new Error(`unknown message type ${JSON.stringify((message as { type?: unknown }).type)}`);
        return { type: 'message.received', message };
      },
      encode: (message) => ({ frame: JSON.stringify(message) }),
    };
    const t = createTestConnection({ protocol: strict });
    t.open();
    t.socket.receive({ type: 'surprise' });
    expect(t.connection.getStatus().lastRejected).toEqual({ code: 'ERR_UNKNOWN_MESSAGE', message: 'unknown message type "surprise"' });
    t.connection.stop();
  });

  it('uses a custom parse', () => {
    const t = createTestConnection({ parse: (data) => ({ type: 'snapshot', data: { raw: String(data) } }) });
    t.open();
    t.socket.receive('hello');
    expect(t.connection.model.getData()).toEqual({ raw: 'hello' });
    t.connection.stop();
  });

  it('updates the model when a message is the answer to a heartbeat ping', () => {
    const t = createTestConnection({ heartbeat: { intervalMs: 1000, timeoutMs: 500 } });
    t.open();
    t.advance(1000);
    t.socket.receive({ type: 'snapshot', data: { during: 'ping' } });
    expect(t.connection.model.getData()).toEqual({ during: 'ping' });
    expect(t.connection.getStatus().counters.received).toBe(1);
    t.advance(500);
    expect(t.connection.getStatus().state).toBe('open');
    t.connection.stop();
  });
});

describe('utf8Length', () => {
  it('counts the UTF-8 bytes of any string, short or long, ASCII or not, lone surrogates as 3', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 3 * SCAN_FROM_UNITS }), (text) => {
        expect(utf8Length(text)).toBe(Buffer.byteLength(text));
      }),
      { numRuns: 100 },
    );
    const ascii = 'x'.repeat(SCAN_FROM_UNITS);
    for (const text of ['', ascii, `${ascii}\u007f`, `${ascii}\u0080`, `${ascii}😀`, `😀${ascii}`, `${ascii}\ud800`, `\udc00${ascii}`, `${ascii}\u2028`]) {
      expect(utf8Length(text)).toBe(Buffer.byteLength(text));
    }
  });
});
