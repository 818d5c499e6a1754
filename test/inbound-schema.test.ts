import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { createConnectionFactory } from '../src/connection.js';
import { rawProtocol } from '../src/protocol.js';
import type { StandardSchemaV1 } from '../src/standard-schema.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import { TestClock, createFakeSockets, createTestConnection } from '../src/testing/index.js';
import type { Model } from '../src/types.js';

interface Quote {
  symbol: string;
  price: number;
}

/** A Standard Schema written by hand: what zod, valibot and arktype hand statesocket. */
function quoteSchema(calls: unknown[] = []): StandardSchemaV1<unknown, Quote> {
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate(value) {
        calls.push(value);
        const { symbol, price } = (value ?? {}) as { symbol?: unknown; price?: unknown };
        if (typeof symbol !== 'string') return { issues: [{ message: 'expected a string', path: ['symbol'] }] };
        if (typeof price !== 'number') return { issues: [{ message: 'expected a number', path: [{ key: 'price' }] }] };
        // The output is the schema's own value: here, with the symbol upper-cased.
        return { value: { symbol: symbol.toUpperCase(), price } };
      },
    },
  };
}

/** A Model of quotes: its `update` takes the schema's output type. */
function quotes(): Model<Record<string, number>, Quote> & { seen: Quote[] } {
  const seen: Quote[] = [];
  let data: Record<string, number> = {};
  return {
    seen,
    update(quote) {
      seen.push(quote);
      data = { ...data, [quote.symbol]: quote.price };
    },
    getData: () => data,
  };
}

describe('an inbound schema', () => {
  it('hands the Model the output of every message it accepts', () => {
    const model = quotes();
    const t = createTestConnection({ model, inbound: quoteSchema() });
    t.open();
    t.socket.receive(JSON.stringify({ symbol: 'btc', price: 1 }), JSON.stringify({ symbol: 'eth', price: 2 }));
    expect(model.seen).toEqual([
      { symbol: 'BTC', price: 1 },
      { symbol: 'ETH', price: 2 },
    ]);
    expect(t.connection.getStatus().counters).toMatchObject({ received: 2, rejected: 0 });
    t.connection.stop();
  });

  it('rejects and counts a message it refuses, with ERR_INVALID_MESSAGE naming the issue, and the Model never sees it', () => {
    const model = quotes();
    const t = createTestConnection({ model, inbound: quoteSchema() });
    t.open();
    t.socket.receive(JSON.stringify({ symbol: 'btc', price: 1 }), JSON.stringify({ symbol: 'eth', price: 'high' }), JSON.stringify({ symbol: 'sol', price: 3 }));
    expect(model.seen.map((quote) => quote.symbol)).toEqual(['BTC', 'SOL']);
    const status = t.connection.getStatus();
    expect(status.counters).toMatchObject({ received: 3, rejected: 1 }); // received counts frames read
    expect(status.lastRejected).toEqual({ code: 'ERR_INVALID_MESSAGE', message: 'the inbound schema refused the message: price: expected a number' });
    expect(status.state).toBe('open');
    t.connection.stop();
  });

  it('rejects every message when validate answers with a Promise (async schemas are not supported)', () => {
    const model = quotes();
    const asyncSchema: StandardSchemaV1<unknown, Quote> = {
      '~standard': { version: 1, vendor: 'test', validate: async (value) => ({ value: value as Quote }) },
    };
    const t = createTestConnection({ model, inbound: asyncSchema });
    t.open();
    t.socket.receive(JSON.stringify({ symbol: 'btc', price: 1 }));
    expect(model.seen).toEqual([]);
    expect(t.connection.getStatus().lastRejected).toEqual({
      code: 'ERR_INVALID_MESSAGE',
      message: expect.stringMatching(/validated asynchronously; .* needs a synchronous schema/),
    });
    t.connection.stop();
  });

  it('rejects a message whose validation throws, and carries on', () => {
    const throwing: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () => {
          throw new Error('boom');
        },
      },
    };
    const t = createTestConnection({ inbound: throwing });
    t.open();
    t.socket.receive('{"type":"snapshot","data":{}}');
    expect(t.connection.getStatus()).toMatchObject({
      state: 'open',
      lastRejected: { code: 'ERR_INVALID_MESSAGE', message: 'the inbound schema threw: boom' },
    });
    t.connection.stop();
  });

  it('checks only data: acks, pongs and the sync protocol itself pass without it', () => {
    const calls: unknown[] = [];
    const t = createTestConnection({ protocol: createSyncProtocol(), inbound: quoteSchema(calls) });
    t.open();
    t.socket.receive('{"type":"pong"}', '{"type":"ack","id":"x"}');
    expect(calls).toEqual([]);
    t.socket.receive('{"type":"snapshot","epoch":"e","seq":0,"data":{}}');
    expect(calls).toEqual([{ type: 'snapshot', epoch: 'e', seq: 0, data: {} }]);
    expect(t.connection.getStatus().lastRejected?.code).toBe('ERR_INVALID_MESSAGE');
    t.connection.stop();
  });

  it('is refused as an option when it is not a Standard Schema', () => {
    expect(() => createTestConnection({ inbound: { validate: () => true } as never })).toThrow(
      /option `inbound` must be a Standard Schema \(an object with ~standard.validate/,
    );
  });

  it('works with a zod 4 schema, types included', () => {
    const schema = z.object({ symbol: z.string(), price: z.number().positive() });
    const model = quotes();
    const t = createTestConnection({ model, inbound: schema, protocol: rawProtocol });
    t.open();
    t.socket.receive(JSON.stringify({ symbol: 'btc', price: 1, extra: true }), JSON.stringify({ symbol: 'eth', price: -1 }));
    expect(model.seen).toEqual([{ symbol: 'btc', price: 1 }]); // zod drops the unknown key
    expect(t.connection.getStatus().lastRejected).toEqual({
      code: 'ERR_INVALID_MESSAGE',
      message: expect.stringMatching(/^the inbound schema refused the message: price: /),
    });
    t.connection.stop();
  });
});

describe('the default protocol', () => {
  it('is the sync protocol, version 2: the Model is the default channel', () => {
    const sockets = createFakeSockets();
    const clock = new TestClock();
    const createConnection = createConnectionFactory(() => sockets.WebSocket);
    const connection = createConnection({ url: 'ws://statesocket.test/', clock, schedule: () => () => {} });
    sockets.latest.open();
    const [hello, subscribe] = sockets.latest.sentMessages() as Array<Record<string, unknown>>;
    expect(hello).toEqual({ type: 'hello', v: 2, client: expect.any(String), maxMessageBytes: 1_048_576 });
    expect(subscribe).toEqual({ type: 'subscribe', channel: 'default' });
    sockets.latest.receive('{"type":"snapshot","channel":"default","epoch":"e","seq":3,"data":{"a":1}}');
    expect(connection.model.getData()).toEqual({ a: 1 });
    expect(connection.model.position()).toEqual({ epoch: 'e', seq: 3 });
    expect(connection.channel('default').model).toBe(connection.model);
    connection.send({ type: 'op', set: { b: 2 } });
    expect(sockets.latest.sentMessages().at(-1)).toEqual({ type: 'op', channel: 'default', n: 1, set: { b: 2 } });
    expect(connection.getOutbox()).toHaveLength(1); // waiting for its ack
    connection.stop();
  });

  it('is version 1 with createSyncProtocol(), for servers that speak only version 1', () => {
    const sockets = createFakeSockets();
    const clock = new TestClock();
    const createConnection = createConnectionFactory(() => sockets.WebSocket);
    const connection = createConnection({ url: 'ws://statesocket.test/', clock, schedule: () => () => {}, protocol: createSyncProtocol() });
    sockets.latest.open();
    expect(sockets.latest.sentMessages()).toEqual([{ type: 'hello', v: 1 }]);
    sockets.latest.receive('{"type":"snapshot","epoch":"e","seq":3,"data":{"a":1}}');
    expect(connection.model.getData()).toEqual({ a: 1 });
    connection.send({ type: 'op', id: 'op-1', set: { b: 2 } });
    expect(sockets.latest.sentMessages().at(-1)).toEqual({ type: 'op', id: 'op-1', set: { b: 2 } });
    expect(() => connection.channel('a')).toThrow(/channel\(\) needs a protocol with channels/);
    connection.stop();
  });
});
