/**
 * The data limit across instances: two real server instances (`startSyncServer`, each with its own
 * Redis engine on one key prefix) and library clients on both, racing ops that each fit under
 * `maxDataBytes` but together do not. The limit is judged in Redis's one atomic append against the
 * shared document, not against an instance's followed copy (which lags the other instance's
 * entries): the document never passes the limit at any seq, every op is either applied (acked)
 * or refused with ERR_DATA_LIMIT, and none is applied twice.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Channel, Connection } from '../../../src/node.js';
import { startSyncServer, type RunningServer } from '../../../src/server/index.js';
import { channelClient, countingStore, stopV2Connections, until, waitForChannel, type CountingStore } from '../../integration/channels-support.js';
import { documentAt, redisTestBed } from './redis-support.js';

const bed = redisTestBed('data-limit');
const servers: RunningServer[] = [];
afterAll(async () => {
  stopV2Connections();
  for (const server of servers) await server.close();
  await bed.cleanup();
});

const CHANNEL = 'limited';
const MAX_DATA_BYTES = 1_000;
const CLIENTS_PER_INSTANCE = 4;
const OPS_PER_CLIENT = 12;
/** Each op's entry `"writer-N.I":"xxx…"` is about 40 bytes: 96 ops would make a document of about 3,800. */
const VALUE = 'x'.repeat(24);

describe('the data limit across instances on one Redis', () => {
  it('holds when two instances append at once: never over the limit, every op applied once or refused with ERR_DATA_LIMIT', async () => {
    for (let i = 0; i < 2; i++) servers.push(await startSyncServer({ port: 0, host: '127.0.0.1', engine: await bed.engine(), maxDataBytes: MAX_DATA_BYTES }));
    const writers: Array<{ id: string; channel: Channel<CountingStore> }> = [];
    for (let c = 0; c < 2 * CLIENTS_PER_INSTANCE; c++) {
      const id = `writer-${c}`;
      const connection = channelClient(servers[c % 2]!.url, { clientId: id, defaultChannel: false }) as unknown as Connection;
      writers.push({ id, channel: connection.channel(CHANNEL, { model: countingStore() }) });
    }
    for (const { channel } of writers) await waitForChannel(channel, (s) => s.live, `${channel.name} live`);

    // Every client sends all its ops at once: both instances append concurrently, each several ops in flight.
    const acked: string[] = [];
    const refused: string[] = [];
    const failures: string[] = [];
    await Promise.all(
      writers.flatMap(({ id, channel }) =>
        Array.from({ length: OPS_PER_CLIENT }, (_, i) => {
          const key = `${id}.${i}`;
          return channel.send({ set: { [key]: VALUE } }).then(
            () => void acked.push(key),
            (error: { code?: string; message?: string }) => void (error.code === 'ERR_DATA_LIMIT' ? refused.push(key) : failures.push(`${key}: ${error.code} ${error.message}`)),
          );
        }),
      ),
    );
    expect(failures).toEqual([]);
    expect(acked.length + refused.length).toBe(2 * CLIENTS_PER_INSTANCE * OPS_PER_CLIENT);
    // Together they were over the limit: some fit, the rest were refused.
    expect(acked.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);

    // Redis's channel: its log from seq 1, replayed, is never over the limit; its document holds exactly the acked ops.
    const redis = await bed.channel(CHANNEL);
    expect(redis.log.map((entry) => entry.seq)).toEqual(Array.from({ length: redis.seq }, (_, i) => i + 1));
    for (const entry of redis.log) {
      expect(Buffer.byteLength(JSON.stringify(documentAt(redis.log, entry.seq))), `the document at seq ${entry.seq}`).toBeLessThanOrEqual(MAX_DATA_BYTES);
    }
    expect(documentAt(redis.log, redis.seq)).toEqual(redis.data);
    expect(Object.keys(redis.data).sort()).toEqual([...acked].sort());
    expect(redis.seq).toBe(acked.length); // one seq per applied op: none twice

    // Every client ends with Redis's document, each key set by one patch.
    for (const { id, channel } of writers) {
      await until(() => channel.model.position()?.seq === redis.seq, `${id} at seq ${redis.seq}`, () => channel.model.position());
      expect(channel.model.getData(), `${id} data`).toEqual(redis.data);
      expect([...channel.model.setsOf].filter(([, count]) => count > 1), `${id}: keys set twice`).toEqual([]);
    }
  }, 30_000);
});
