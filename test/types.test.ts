/**
 * Type tests: checked by `npm run typecheck` (every `@ts-expect-error` must
 * meet an error, every `expectTypeOf` must hold); the bodies also run.
 */
import { describe, expectTypeOf, it } from 'vitest';
import * as z from 'zod';
import type { Connection } from '../src/connection.js';
import type { Channel, ChannelPresence, ChannelStatus } from '../src/channel.js';
import type { PresenceData } from '../src/presence.js';
import type { ChangelogPage } from '../src/protocol.js';
import { createConnection } from '../src/index.js';
import { createConnection as createNodeConnection } from '../src/node.js';
import type { DomView } from '../src/views/dom.js';
import { rawProtocol } from '../src/protocol.js';
import type { Store, StoreData } from '../src/store.js';
import { createOp, createSyncProtocol, type SyncOutbound } from '../src/sync/client-protocol.js';
import { createChannelProtocol } from '../src/sync/client-protocol-v2.js';
import { createTestConnection } from '../src/testing/index.js';
import type { Model } from '../src/types.js';

interface Quote {
  symbol: string;
  price: number;
}
type Subscribe = { type: 'subscribe'; symbols: string[] };

function quotes(): Model<Record<string, number>, Quote> & { reset(): void } {
  let data: Record<string, number> = {};
  return {
    update: (quote) => {
      data = { ...data, [quote.symbol]: quote.price };
    },
    getData: () => data,
    reset: () => {
      data = {};
    },
  };
}

describe('connection types', () => {
  it('types the model as the store when no model is given', () => {
    const { connection } = createTestConnection({ protocol: createSyncProtocol() });
    expectTypeOf(connection.model).toEqualTypeOf<Store>();
    expectTypeOf(connection.model.position).toBeFunction(); // no cast to reach the store's own methods
    expectTypeOf(connection.model.getData()).toEqualTypeOf<StoreData>();
    expectTypeOf(connection).toEqualTypeOf<Connection<Store, SyncOutbound>>();
    connection.stop();
  });

  it('types the model by the Model given, own methods included', () => {
    const { connection } = createTestConnection({ model: quotes(), protocol: rawProtocol });
    expectTypeOf(connection.model.reset).toBeFunction();
    expectTypeOf(connection.model.getData()).toEqualTypeOf<Record<string, number>>();
    connection.stop();
  });

  it('lets the sync protocol send only ops (and pings)', () => {
    const { connection } = createTestConnection({ protocol: createSyncProtocol() });
    connection.send({ type: 'op', set: { a: 1 } });
    connection.send(createOp({ delete: ['a'] }));
    expectTypeOf(connection.send).parameter(0).toEqualTypeOf<SyncOutbound>();
    // @ts-expect-error not an op
    expectTypeOf(connection.send).toBeCallableWith({ type: 'subscribe', symbols: [] });
    // @ts-expect-error an op's set is an object of JSON values
    expectTypeOf(connection.send).toBeCallableWith({ type: 'op', set: 5 });
    connection.stop();
  });

  it('lets rawProtocol send anything, unless the connection declares its outbound type', () => {
    const raw = createTestConnection({ protocol: rawProtocol });
    expectTypeOf(raw.connection.send).parameter(0).toEqualTypeOf<unknown>();
    raw.connection.stop();

    const declared = createTestConnection<ReturnType<typeof quotes>, Subscribe>({ model: quotes(), protocol: rawProtocol });
    declared.connection.send({ type: 'subscribe', symbols: ['BTC'] });
    // @ts-expect-error the connection declared Subscribe as its outbound type
    expectTypeOf(declared.connection.send).toBeCallableWith({ type: 'unsubscribe' });
    declared.connection.stop();
  });

  it("takes the inbound schema's output as the Model's message type", () => {
    const quote = z.object({ symbol: z.string(), price: z.number() });
    const ok = createTestConnection({ model: quotes(), inbound: quote, protocol: rawProtocol });
    ok.connection.stop();
    const wrong = z.object({ symbol: z.number() });
    // @ts-expect-error the schema's output is not the Quote the Model takes
    createTestConnection({ model: quotes(), inbound: wrong, protocol: rawProtocol, autoStart: false }).connection.stop();
  });

  describe('channels', () => {
    const v2 = () => createTestConnection({ protocol: createChannelProtocol() }).connection;

    it('types a channel by its Model: the store when none is given', () => {
      const connection = v2();
      const notes = connection.channel('notes');
      expectTypeOf(notes).toEqualTypeOf<Channel<Store>>();
      expectTypeOf(notes.model.getData()).toEqualTypeOf<StoreData>();
      expectTypeOf(notes.model.position).toBeFunction();
      connection.stop();
    });

    it('types a channel by the Model given, own methods included, and its view by the data', () => {
      const connection = v2();
      const prices = connection.channel('prices', {
        model: quotes(),
        view: {
          render(data, status) {
            expectTypeOf(data).toEqualTypeOf<Record<string, number>>();
            expectTypeOf(status).toEqualTypeOf<ChannelStatus>();
          },
        },
      });
      expectTypeOf(prices.model.reset).toBeFunction();
      expectTypeOf(prices.model.getData()).toEqualTypeOf<Record<string, number>>();
      // @ts-expect-error the view renders the Model's data
      connection.channel('other', { model: quotes(), view: { render: (data: string) => data } });
      connection.stop();
    });

    it('sends ops (changes) and gives the answer as a promise', () => {
      const connection = v2();
      const notes = connection.channel('notes');
      expectTypeOf(notes.send({ set: { title: 'x' } })).toEqualTypeOf<Promise<void>>();
      // @ts-expect-error an op's set is an object of JSON values
      expectTypeOf(notes.send).toBeCallableWith({ set: 5 });
      expectTypeOf(notes.changes({ since: 0, limit: 10 })).toEqualTypeOf<Promise<ChangelogPage>>();
      connection.stop();
    });

    it('types presence as the members, and its view too', () => {
      const connection = v2();
      const room = connection.channel('room', {
        presence: {
          view: {
            render(members) {
              expectTypeOf(members).toEqualTypeOf<PresenceData>();
            },
          },
        },
      });
      expectTypeOf(room.presence).toEqualTypeOf<ChannelPresence | null>();
      expectTypeOf(room.presence!.getData()).toEqualTypeOf<PresenceData>();
      connection.stop();
    });
  });

  it('takes inspect: { url } on every entry (the browser entry refuses it at run time)', () => {
    const options = { url: 'ws://127.0.0.1:8080', inspect: { url: 'ws://127.0.0.1:8090/inspect' }, autoStart: false } as const;
    expectTypeOf(createConnection).toBeCallableWith(options);
    expectTypeOf(createNodeConnection).toBeCallableWith(options);
    // @ts-expect-error the relay's URL is a string
    expectTypeOf(createConnection).toBeCallableWith({ url: 'ws://127.0.0.1:8080', inspect: { url: 5 } });
  });

  it("gives DOM projects the DOM's Element from domView", () => {
    expectTypeOf<ReturnType<DomView<unknown>['rowElement']>>().toEqualTypeOf<Element | undefined>();
  });
});
