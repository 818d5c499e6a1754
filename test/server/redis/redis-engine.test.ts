/**
 * The Redis engine against the real shared Redis (127.0.0.1:6379): several engines on one key
 * prefix stand for several server instances. Each test file has its own prefix and deletes its
 * keys afterwards (redis-support.ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ChannelEntry, ChannelListener, ChannelState, OpMark, PresenceChange } from '../../../src/server/engine.js';
import { markKey } from '../../../src/server/marks.js';
import { channelKeys } from '../../../src/server/redis/keys.js';
import { redisTestBed, until } from './redis-support.js';

const bed = redisTestBed('engine');
afterAll(() => bed.cleanup());

/** A listener that records what it is told, and applies entries to its own copy of the document. */
function recorder(start?: ChannelState) {
  const seen = {
    epoch: start?.epoch ?? '',
    seq: start?.seq ?? 0,
    data: { ...(start?.data ?? {}) } as Record<string, unknown>,
    seqs: [] as number[],
    resets: [] as ChannelState[],
    presence: [] as PresenceChange[],
  };
  const listener: ChannelListener = {
    entries(epoch: string, entries: readonly ChannelEntry[]) {
      for (const entry of entries) {
        if (epoch !== seen.epoch || entry.seq !== seen.seq + 1) throw new Error(`out of order: ${epoch}:${entry.seq} after ${seen.epoch}:${seen.seq}`);
        seen.seq = entry.seq;
        seen.seqs.push(entry.seq);
        for (const key of entry.changes.delete ?? []) delete seen.data[key];
        Object.assign(seen.data, entry.changes.set ?? {});
      }
    },
    reset(state: ChannelState) {
      seen.resets.push(state);
      seen.epoch = state.epoch;
      seen.seq = state.seq;
      seen.data = { ...state.data };
    },
    presence(change: PresenceChange) {
      seen.presence.push(change);
    },
  };
  return { seen, listener };
}

/** Follows `channel` on `engine` with a recorder started from the state follow returns. */
async function follower(engine: Awaited<ReturnType<typeof bed.engine>>, channel: string) {
  const rec = recorder();
  const following = await engine.follow(channel, rec.listener);
  rec.seen.epoch = following.epoch;
  rec.seen.seq = following.seq;
  rec.seen.data = { ...following.data };
  return { ...rec, following };
}

const mark = (user: string, client: string, n: number, extra: Partial<OpMark> = {}): OpMark => ({ key: markKey(user, client), owner: user, n, at: Date.now(), ...extra });

describe('redisEngine: appends from several instances', () => {
  it('gives concurrent appends from 3 instances seqs 1..N without gaps or repeats, each op once, told in order to every follower', async () => {
    const engines = [await bed.engine(), await bed.engine(), await bed.engine()];
    const followers = await Promise.all(engines.map((engine) => follower(engine, 'race')));
    const perInstance = 60;
    const results = await Promise.all(
      engines.map(async (engine, i) => {
        const client = `c${i}`;
        // Each client's ops in order, one at a time (as the server appends them); the instances race.
        const out = [];
        for (let n = 1; n <= perInstance; n++) out.push(await engine.append('race', { set: { [`${client}-${n}`]: n, last: client } }, { mark: mark('u', client, n) }));
        return out;
      }),
    );
    const seqs = results.flat().map((r) => (r.status === 'applied' ? r.seq : -1));
    expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 3 * perInstance }, (_, i) => i + 1));
    for (const f of followers) await until(() => f.seen.seq === 3 * perInstance, 5000, 'every entry at every follower');
    for (const f of followers) {
      expect(f.seen.seqs).toEqual(Array.from({ length: 3 * perInstance }, (_, i) => i + 1));
      expect(f.seen.data).toEqual(followers[0]?.seen.data);
      expect(Object.keys(f.seen.data).length).toBe(3 * perInstance + 1);
    }
    // What Redis holds is what the followers built.
    const fresh = await (await bed.engine()).follow('race', recorder().listener);
    expect(fresh.data).toEqual(followers[0]?.seen.data);
    expect(fresh.seq).toBe(3 * perInstance);
  });

  it('answers a resend on another instance as a duplicate, by the mark, and keeps the first refusal', async () => {
    const [a, b] = [await bed.engine(), await bed.engine()];
    await a.follow('dup', recorder().listener);
    expect(await a.append('dup', { set: { x: 1 } }, { mark: mark('ann', 'c1', 1) })).toMatchObject({ status: 'applied', seq: 1 });
    expect(await b.append('dup', { set: { x: 99 } }, { mark: mark('ann', 'c1', 1) })).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
    expect(await b.refuse('dup', 'ERR_PUBLISH_FORBIDDEN', { mark: mark('ann', 'c1', 2) })).toEqual({ status: 'refused', code: 'ERR_PUBLISH_FORBIDDEN', recorded: true });
    expect(await a.append('dup', { set: { x: 2 } }, { mark: mark('ann', 'c1', 2) })).toEqual({ status: 'duplicate', answer: { kind: 'refusal', code: 'ERR_PUBLISH_FORBIDDEN' } });
    // Another user with the same client id has marks of its own.
    expect(await b.append('dup', { set: { y: 1 } }, { mark: mark('bob', 'c1', 1) })).toMatchObject({ status: 'applied', seq: 2 });
    // subscribe.acked forgets refusals at or below it: the resend is then acked.
    expect(await a.subscribed('dup', markKey('ann', 'c1'), 2, Date.now())).toBe(2);
    expect(await b.append('dup', { set: { x: 3 } }, { mark: mark('ann', 'c1', 2) })).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
    const state = await (await bed.engine()).follow('dup', recorder().listener);
    expect(state.data).toEqual({ x: 1, y: 1 });
  });

  it('keeps a publish refusal off a channel that stores nothing, and refuses a resend of a forgotten client', async () => {
    const counters = { marksForgotten: 0 };
    const engine = await bed.engine({ maxClientsPerChannel: 2, counters });
    expect(await engine.refuse('empty', 'ERR_PUBLISH_FORBIDDEN', { mark: mark('ann', 'c1', 1), keepOffEmpty: true })).toEqual({ status: 'refused', code: 'ERR_PUBLISH_FORBIDDEN', recorded: false });
    expect(await engine.subscribed('empty', markKey('ann', 'c1'), 0, Date.now())).toBeUndefined();
    // Three clients on a channel of two marks: the least recently active mark of the owner holding the most goes.
    await engine.append('evict', { set: { a: 1 } }, { mark: mark('ann', 'a1', 1, { at: 1000 }) });
    await engine.append('evict', { set: { a: 2 } }, { mark: mark('ann', 'a2', 1, { at: 2000 }) });
    await engine.append('evict', { set: { b: 1 } }, { mark: mark('bob', 'b1', 1, { at: 3000 }) });
    expect(await engine.subscribed('evict', markKey('ann', 'a1'), 0, 0)).toBeUndefined();
    expect(counters.marksForgotten).toBe(1);
    expect(await engine.subscribed('evict', markKey('bob', 'b1'), 0, 0)).toBe(1);
    // a1's resend, first written before its mark was forgotten: never a second apply.
    expect(await engine.append('evict', { set: { a: 1 } }, { mark: mark('ann', 'a1', 1, { re: 500, at: 4000 }) })).toEqual({ status: 'forgotten' });
    // A resend first written after every forgotten mark's last op is a new client's lost first op: applied.
    expect(await engine.append('evict', { set: { c: 1 } }, { mark: mark('cat', 'c1', 1, { re: 5000, at: 5000 }) })).toMatchObject({ status: 'applied' });
  });

  it('records version 1 op ids: a resend is acked, a refusal is answered again', async () => {
    const [a, b] = [await bed.engine(), await bed.engine()];
    expect(await a.append('default', { set: { v: 1 } }, { v1: { id: 'op-1', owner: 'x' } })).toMatchObject({ status: 'applied' });
    expect(await b.append('default', { set: { v: 2 } }, { v1: { id: 'op-1', owner: 'x' } })).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
    expect(await b.refuse('default', 'ERR_DATA_LIMIT', { v1: { id: 'op-2', owner: 'x' } })).toEqual({ status: 'refused', code: 'ERR_DATA_LIMIT', recorded: true });
    expect(await a.append('default', { set: { v: 3 } }, { v1: { id: 'op-2', owner: 'x' } })).toEqual({ status: 'duplicate', answer: { kind: 'refusal', code: 'ERR_DATA_LIMIT' } });
  });
});

describe('redisEngine: the log', () => {
  it('trims the stream to about logSize and reads what it still covers', async () => {
    const engine = await bed.engine({ logSize: 50 });
    const { following } = await follower(engine, 'trim');
    for (let i = 1; i <= 400; i++) await engine.append('trim', { set: { i } });
    const client = await bed.client();
    const length = await client.xlen(channelKeys(bed.prefix, 'trim').log);
    expect(length).toBeGreaterThanOrEqual(50);
    expect(length).toBeLessThan(400);
    const tail = await engine.readLog('trim', following.epoch, 390);
    expect(tail?.map((e) => e.seq)).toEqual([391, 392, 393, 394, 395, 396, 397, 398, 399, 400]);
    expect(tail?.[0]?.changes).toEqual({ set: { i: 391 } });
    expect(await engine.readLog('trim', following.epoch, 400)).toEqual([]);
    expect(await engine.readLog('trim', following.epoch, 1)).toBeUndefined(); // trimmed past
    expect(await engine.readLog('trim', 'another-epoch', 390)).toBeUndefined();
    expect(await engine.readLog('trim', following.epoch, 401)).toBeUndefined(); // ahead of the channel
  });
});

describe('redisEngine: epochs', () => {
  it('keeps a channel epoch across engine restarts, and starts a new one when its keys are lost', async () => {
    const first = await bed.engine();
    const a = await first.follow('epoch', recorder().listener);
    await first.append('epoch', { set: { k: 1 } }, { mark: mark('u', 'c', 1) });
    await first.close();
    const second = await bed.engine();
    const watcher = await follower(second, 'epoch');
    expect(watcher.following.epoch).toBe(a.epoch);
    expect(watcher.following.seq).toBe(1);
    // Everything lost (a Redis restarted without persistence looks the same).
    const client = await bed.client();
    const k = channelKeys(bed.prefix, 'epoch');
    await client.del(k.meta, k.data, k.log, k.marks, k.markTimes, k.markOwners);
    const other = await bed.engine();
    await other.append('epoch', { set: { after: true } });
    await until(() => watcher.seen.resets.length > 0 && watcher.seen.seq === 1, 5000, 'the follower reset to the new epoch');
    expect(watcher.seen.epoch).not.toBe(a.epoch);
    expect(watcher.seen.data).toEqual({ after: true });
  });

  it('starts a new epoch when only the log is lost, keeping the document and the marks', async () => {
    const engine = await bed.engine();
    const watcher = await follower(engine, 'partial');
    await engine.append('partial', { set: { doc: 1 } }, { mark: mark('u', 'c', 1) });
    const client = await bed.client();
    await client.del(channelKeys(bed.prefix, 'partial').log);
    expect(await engine.append('partial', { set: { doc: 2 } }, { mark: mark('u', 'c', 1) })).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
    const applied = await engine.append('partial', { set: { more: 1 } }, { mark: mark('u', 'c', 2) });
    expect(applied).toMatchObject({ status: 'applied', seq: 1 });
    expect(applied.status === 'applied' && applied.epoch).not.toBe(watcher.following.epoch);
    await until(() => watcher.seen.resets.length === 1 && watcher.seen.seq === 1, 5000, 'the reset and the entry');
    expect(watcher.seen.data).toEqual({ doc: 1, more: 1 });
  });

  it('refuses every resend with a position once the marks alone are lost (ERR_CLIENT_FORGOTTEN, never a second apply)', async () => {
    const engine = await bed.engine();
    await engine.follow('lost-marks', recorder().listener);
    const before = Date.now();
    await engine.append('lost-marks', { set: { x: 1 } }, { mark: mark('u', 'c', 5) });
    const client = await bed.client();
    await client.del(channelKeys(bed.prefix, 'lost-marks').marks);
    expect(await engine.append('lost-marks', { set: { x: 1 } }, { mark: mark('u', 'c', 5, { re: before }) })).toEqual({ status: 'forgotten' });
  });
});

describe('redisEngine: the data limit', () => {
  const bytesOf = (data: Record<string, unknown>) => Buffer.byteLength(JSON.stringify(data));

  it("measures a document whose size it did not keep (written before it was kept, or a new epoch over what was left) and keeps it from then on", async () => {
    const engine = await bed.engine();
    await engine.follow('sized', recorder().listener);
    const doc = { a: 'caf\u00e9', b: [1, 2, { c: null }] };
    await engine.append('sized', { set: doc });
    const client = await bed.client();
    const k = channelKeys(bed.prefix, 'sized');
    // The size as kept: the entries' bytes (the document's JSON less its braces and commas).
    expect(Number(await client.hget(k.meta, 'bytes'))).toBe(bytesOf(doc) - 2 - 1);
    await client.hdel(k.meta, 'bytes');
    expect(await engine.append('sized', { set: { d: 1 } }, undefined, { maxDataBytes: bytesOf({ ...doc, d: 1 }) - 1 })).toEqual({ status: 'tooLarge', bytes: bytesOf({ ...doc, d: 1 }) });
    expect(await client.hget(k.meta, 'bytes')).toBe(String(bytesOf(doc) - 3));
    // Only the log lost: a new epoch, the document kept and measured again.
    await client.del(k.log);
    await client.hset(k.meta, 'bytes', '999999');
    expect(await engine.append('sized', { set: { d: 1 } }, undefined, { maxDataBytes: bytesOf({ ...doc, d: 1 }) })).toMatchObject({ status: 'applied', seq: 1 });
    expect(await client.hget(k.meta, 'bytes')).toBe(String(bytesOf({ ...doc, d: 1 }) - 4));
  });
});

describe('redisEngine: channels that store nothing', () => {
  it('keep their keys while followed, and leave nothing in Redis once nobody follows them for channelIdleMs', async () => {
    const engine = await bed.engine({ channelIdleMs: 300, presenceTtlMs: 150 });
    const quiet = await follower(engine, 'quiet');
    const gone = await engine.follow('gone', recorder().listener);
    await gone.unfollow();
    await new Promise((resolve) => setTimeout(resolve, 700));
    // Followed: the same epoch, no reset, when the first change comes after the idle time.
    expect(await engine.append('quiet', { set: { first: 1 } })).toEqual({ status: 'applied', epoch: quiet.following.epoch, seq: 1 });
    expect(quiet.seen.resets).toEqual([]);
    // Not followed: its keys expired.
    expect((await bed.keys()).filter((key) => key.includes('{gone}'))).toEqual([]);
  });
});

describe('redisEngine: presence', () => {
  it('tells joins and leaves across instances, continues a member within its grace, and lists members at follow', async () => {
    const [a, b] = [await bed.engine(), await bed.engine()];
    const watchA = await follower(a, 'room');
    const ann = { key: markKey('ann', 'c1'), client: 'c1', user: 'ann', info: { name: 'Ann' } };
    await b.join('room', ann, 'b:1', 1234);
    await until(() => watchA.seen.presence.length === 1, 5000, 'the join');
    expect(watchA.seen.presence[0]).toEqual({ type: 'join', member: { ...ann, joinedAt: 1234 } });
    // The connection ends; a rejoin within the grace continues the member, untold.
    await b.detach('room', ann.key, 'b:1', 2000);
    await a.join('room', ann, 'a:7', 9999);
    const late = await a.follow('room', recorder().listener);
    expect(late.members).toEqual([{ ...ann, joinedAt: 1234 }]);
    // The old holder cannot make it leave any more; the new one can.
    await b.leave('room', ann.key, 'b:1');
    await a.leave('room', ann.key, 'a:7');
    await until(() => watchA.seen.presence.length === 2, 5000, 'the leave');
    expect(watchA.seen.presence[1]).toMatchObject({ type: 'leave', member: { key: ann.key, client: 'c1', user: 'ann' } });
  });

  it('lets the members of an instance that stops refreshing leave after the expiry, told to the others', async () => {
    const dying = await bed.engine({ presenceTtlMs: 300 });
    const living = await bed.engine({ presenceTtlMs: 300 });
    const watch = await follower(living, 'ghosts');
    await dying.join('ghosts', { key: markKey('gus', 'g1'), client: 'g1', user: 'gus' }, 'd:1', Date.now());
    await until(() => watch.seen.presence.length === 1, 5000, 'the join');
    // Held and refreshed: still there after more than the expiry.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(watch.seen.presence).toHaveLength(1);
    await dying.close(); // the instance dies: nobody refreshes its member
    await until(() => watch.seen.presence.length === 2, 5000, 'the leave of the dead instance member');
    expect(watch.seen.presence[1]).toMatchObject({ type: 'leave', member: { client: 'g1', user: 'gus' } });
  });
});

describe('redisEngine: leases and client owners', () => {
  it('gives a lease to one owner at a time, and to another once it expires or is released', async () => {
    const [a, b] = [await bed.engine(), await bed.engine()];
    expect(await a.lease('feed', 'A', 200)).toBe(true);
    expect(await b.lease('feed', 'B', 200)).toBe(false);
    expect(await a.lease('feed', 'A', 200)).toBe(true); // renewed
    await b.releaseLease('feed', 'B'); // not B's: nothing happens
    expect(await b.lease('feed', 'B', 200)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300)); // A stopped renewing
    expect(await b.lease('feed', 'B', 200)).toBe(true);
    await b.releaseLease('feed', 'B');
    expect(await a.lease('feed', 'A', 200)).toBe(true);
  });

  it('claims a client id for its first user, atomically across instances', async () => {
    const engines = [await bed.engine(), await bed.engine(), await bed.engine()];
    const claims = await Promise.all(engines.map((engine, i) => engine.claimClient('shared-id', `user${i}`, Date.now())));
    expect(claims.filter(Boolean)).toHaveLength(1);
    const winner = `user${claims.indexOf(true)}`;
    expect(await engines[0]?.claimClient('shared-id', winner, Date.now())).toBe(true);
    expect(await engines[1]?.claimClient('shared-id', null, Date.now())).toBe(false);
    expect(await engines[2]?.claimClient('free-id', null, Date.now())).toBe(true);
  });
});
