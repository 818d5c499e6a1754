/**
 * A channel whose keys Redis lost (a Redis restarted without persistence, a key deleted) starts a
 * new epoch; the instance's version 2 subscribers of that channel get the new epoch's snapshot in
 * place, unasked (docs/protocol.md), and the connection and its other channels go on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { channelKeys } from '../../../src/server/redis/keys.js';
import { createSyncServer } from '../../../src/server/sync-server.js';
import { onCleanup } from '../../support/cleanup.js';
import { redisTestBed, until } from './redis-support.js';

const bed = redisTestBed('reset');
afterAll(() => bed.cleanup());

interface Frame {
  type: string;
  [key: string]: unknown;
}

describe('a channel reset by the Redis engine', () => {
  it('reaches its version 2 subscribers as a snapshot of the new epoch, without closing the connection or touching its other channels', async () => {
    const server = createSyncServer({ engine: await bed.engine() });
    onCleanup(() => server.close());
    const frames: Frame[] = [];
    const closes: number[] = [];
    const session = server.connect({ send: (text) => frames.push(JSON.parse(text) as Frame), close: (code) => closes.push(code), bufferedAmount: 0 });
    const send = (frame: object) => session.receive(JSON.stringify(frame));
    send({ type: 'hello', v: 2, client: 'reset-client' });
    send({ type: 'subscribe', channel: 'lost' });
    send({ type: 'subscribe', channel: 'kept' });
    await until(() => frames.filter((f) => f.type === 'synced').length === 2, 5000, 'both channels synced');
    const before = frames.find((f) => f.type === 'synced' && f.channel === 'lost')!.epoch;
    send({ type: 'op', channel: 'lost', n: 1, set: { a: 1 } });
    send({ type: 'op', channel: 'kept', n: 1, set: { k: 1 } });
    await until(() => frames.filter((f) => f.type === 'ack').length === 2, 5000, 'both ops acked');
    frames.length = 0;

    // Redis loses the channel's keys; another instance's change starts a new epoch.
    const client = await bed.client();
    const k = channelKeys(bed.prefix, 'lost');
    await client.del(k.meta, k.data, k.log, k.marks, k.markTimes, k.markOwners);
    const other = await bed.engine();
    await other.append('lost', { set: { after: true } });

    await until(() => frames.some((f) => f.type === 'synced' && f.channel === 'lost'), 5000, 'the new epoch reached the subscriber');
    const snapshot = frames.find((f) => f.type === 'snapshot' && f.channel === 'lost');
    expect(snapshot?.epoch).not.toBe(before);
    expect(snapshot?.data).toEqual({ after: true });
    expect(frames.filter((f) => f.channel === 'kept')).toEqual([]);
    expect(closes).toEqual([]);

    // Both channels go on over the same connection.
    send({ type: 'op', channel: 'lost', n: 2, set: { b: 2 } });
    send({ type: 'op', channel: 'kept', n: 2, set: { k: 2 } });
    await until(() => frames.filter((f) => f.type === 'ack').length === 2, 5000, 'both ops acked after the reset');
    expect(frames.filter((f) => f.type === 'patch').map((f) => [f.channel, f.epoch === snapshot?.epoch || f.channel === 'kept'])).toEqual([
      ['lost', true],
      ['kept', true],
    ]);
    expect(closes).toEqual([]);
  });
});
