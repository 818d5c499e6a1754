/**
 * What every engine (src/server/engine.ts) must do, as a suite any engine runs:
 * `describeEngine('memory', (limits) => memoryEngine(limits))` here, and the Redis engine's
 * own test the same way. The factory gets the few limits the cases need; each case makes its
 * own engine and closes it. Channel names are random, so a shared store (one Redis) is fine.
 */
import { describe, expect, it } from 'vitest';
import type { Answer, ChannelEntry, ChannelListener, ChannelState, Engine, Following, PresenceChange } from '../../src/server/engine.js';
import { onCleanup } from './cleanup.js';

/** The limits a conformance case sets on the engine it makes. */
export interface ConformanceLimits {
  /** Entries kept per channel for `readLog`: at least the last `logSize`, and not many more (an approximate trim is fine). */
  logSize: number;
}

export type EngineFactory = (limits: ConformanceLimits) => Answer<Engine>;

const DEFAULT_LIMITS: ConformanceLimits = { logSize: 1000 };

/** A listener that records what it is told, and lets a case wait for a count. */
export function recorder() {
  const entries: Array<{ epoch: string; entry: ChannelEntry }> = [];
  const presence: PresenceChange[] = [];
  const resets: ChannelState[] = [];
  let wake: (() => void) | undefined;
  const listener: ChannelListener = {
    entries(epoch, list) {
      for (const entry of list) entries.push({ epoch, entry });
      wake?.();
    },
    reset(state) {
      resets.push(state);
      wake?.();
    },
    presence(change) {
      presence.push(change);
      wake?.();
    },
  };
  /** Resolves once `done()` holds (checked after every call to the listener); fails after 5 s. */
  const until = (done: () => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      if (done()) return resolve();
      const timer = setTimeout(() => {
        wake = undefined;
        reject(new Error(`timed out waiting for ${what}`));
      }, 5_000);
      wake = () => {
        if (!done()) return;
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
  return { listener, entries, presence, resets, until };
}

const channelName = () => `conformance.${Math.random().toString(36).slice(2, 10)}`;

export function describeEngine(name: string, makeEngine: EngineFactory): void {
  async function open(limits: Partial<ConformanceLimits> = {}): Promise<Engine> {
    const engine = await makeEngine({ ...DEFAULT_LIMITS, ...limits });
    onCleanup(async () => {
      await engine.close();
    });
    return engine;
  }

  async function followed(engine: Engine, channel: string) {
    const record = recorder();
    const following: Following = await engine.follow(channel, record.listener);
    onCleanup(async () => {
      await following.unfollow();
    });
    return { ...record, following };
  }

  describe(`engine conformance: ${name}`, () => {
    it('starts a channel it never saw at seq 0 with an empty document; a second follower gets the same epoch', async () => {
      const engine = await open();
      const channel = channelName();
      const a = await followed(engine, channel);
      expect(a.following).toMatchObject({ seq: 0, data: {}, members: [] });
      expect(a.following.epoch).toMatch(/\S/);
      const b = await followed(engine, channel);
      expect(b.following.epoch).toBe(a.following.epoch);
    });

    it('gives concurrent appends consecutive seqs, and tells every follower every entry once, in seq order', async () => {
      const engine = await open();
      const channel = channelName();
      const a = await followed(engine, channel);
      const b = await followed(engine, channel);
      // Two appenders, interleaved: 40 changes of one key each, none awaited before the next is sent.
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => engine.append(channel, { set: { [`k${i % 5}`]: i } }, i % 2 === 0 ? undefined : { mark: { key: `\u0000w${i % 4}`, owner: 'o', n: 1 + Math.floor(i / 4), at: 1 } })),
      );
      const seqs = results.map((r) => (r.status === 'applied' ? r.seq : -1));
      expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      for (const follower of [a, b]) {
        await follower.until(() => follower.entries.length >= 40, '40 entries');
        expect(follower.entries.map((e) => e.entry.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(new Set(follower.entries.map((e) => e.epoch))).toEqual(new Set([a.following.epoch]));
      }
      // The document is the changes applied in seq order.
      const expected: Record<string, unknown> = {};
      for (const { entry } of a.entries) Object.assign(expected, entry.changes.set);
      const c = await followed(engine, channel);
      expect(c.following).toMatchObject({ epoch: a.following.epoch, seq: 40, data: expected });
    });

    it('applies server changes sent without waiting in the order sent, when it says it keeps that order (keepsServerAppendOrder)', async () => {
      const engine = await open();
      const channel = channelName();
      const a = await followed(engine, channel);
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => engine.append(channel, { set: { [`k${i}`]: i } })));
      const seqs = results.map((r) => (r.status === 'applied' ? r.seq : -1));
      if (engine.keepsServerAppendOrder === true) expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      else expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      await a.until(() => a.entries.length >= 100, '100 entries');
      expect(a.entries.map((e) => e.entry.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    });

    it('applies a version 2 op once by its mark: a duplicate gets its first answer, a refusal is kept', async () => {
      const engine = await open();
      const channel = channelName();
      const a = await followed(engine, channel);
      const mark = (n: number) => ({ key: 'ann\u0000c1', owner: 'ann', n, at: 1_000 + n });
      expect(await engine.append(channel, { set: { x: 1 } }, { mark: mark(1) })).toMatchObject({ status: 'applied', seq: 1 });
      expect(await engine.append(channel, { set: { x: 99 } }, { mark: mark(1) })).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
      expect(await engine.refuse(channel, 'ERR_DATA_LIMIT', { mark: mark(2) })).toEqual({ status: 'refused', code: 'ERR_DATA_LIMIT', recorded: true });
      expect(await engine.append(channel, { set: { x: 2 } }, { mark: mark(2) })).toEqual({ status: 'duplicate', answer: { kind: 'refusal', code: 'ERR_DATA_LIMIT' } });
      expect(await engine.refuse(channel, 'ERR_INVALID_FRAME', { mark: mark(1) })).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
      expect(await engine.append(channel, { set: { x: 3 } }, { mark: mark(3) })).toMatchObject({ status: 'applied', seq: 2 });
      // Another client's numbers are its own.
      expect(await engine.append(channel, { set: { y: 1 } }, { mark: { ...mark(1), key: 'bob\u0000c1', owner: 'bob' } })).toMatchObject({ status: 'applied', seq: 3 });
      expect(await engine.subscribed(channel, 'ann\u0000c1', 2, 2_000)).toBe(3);
      expect(await engine.subscribed(channel, 'nobody\u0000c9', undefined, 2_000)).toBeUndefined();
      await a.until(() => a.entries.length === 3, '3 entries');
      expect(a.entries.map((e) => e.entry.changes)).toEqual([{ set: { x: 1 } }, { set: { x: 3 } }, { set: { y: 1 } }]);
    });

    it('leaves a publish refusal off a channel that stores nothing (keepOffEmpty), and records it on one that does', async () => {
      const engine = await open();
      const channel = channelName();
      await followed(engine, channel);
      const mark = { key: '\u0000c1', owner: 'address 1', n: 1, at: 1 };
      expect(await engine.refuse(channel, 'ERR_PUBLISH_FORBIDDEN', { mark, keepOffEmpty: true })).toEqual({ status: 'refused', code: 'ERR_PUBLISH_FORBIDDEN', recorded: false });
      expect(await engine.subscribed(channel, mark.key, undefined, 1)).toBeUndefined();
      await engine.append(channel, { set: { a: 1 } });
      expect(await engine.refuse(channel, 'ERR_PUBLISH_FORBIDDEN', { mark, keepOffEmpty: true })).toEqual({ status: 'refused', code: 'ERR_PUBLISH_FORBIDDEN', recorded: true });
      expect(await engine.subscribed(channel, mark.key, undefined, 1)).toBe(1);
    });

    it('applies a version 1 op once by its id, and keeps its refusals', async () => {
      const engine = await open();
      const channel = 'default';
      const id = `op-${Math.random().toString(36).slice(2)}`;
      const refusedId = `${id}-refused`;
      await followed(engine, channel);
      expect(await engine.append(channel, { set: { v1: 1 } }, { v1: { id, owner: 'address 1' } })).toMatchObject({ status: 'applied' });
      expect(await engine.append(channel, { set: { v1: 2 } }, { v1: { id, owner: 'address 1' } })).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
      expect(await engine.refuse(channel, 'ERR_INVALID_FRAME', { v1: { id, owner: 'address 1' } })).toEqual({ status: 'duplicate', answer: { kind: 'ack' } });
      expect(await engine.refuse(channel, 'ERR_INVALID_FRAME', { v1: { id: refusedId, owner: 'address 1' } })).toEqual({ status: 'refused', code: 'ERR_INVALID_FRAME', recorded: true });
      expect(await engine.append(channel, { set: { v1: 3 } }, { v1: { id: refusedId, owner: 'address 1' } })).toEqual({ status: 'duplicate', answer: { kind: 'refusal', code: 'ERR_INVALID_FRAME' } });
    });

    describe('the data limit', () => {
      /** UTF-8 bytes of a document's JSON, as the limit counts them. */
      const bytesOf = (data: Record<string, unknown>) => Buffer.byteLength(JSON.stringify(data));

      it('applies a change up to maxDataBytes and refuses one past it (tooLarge, with the bytes it would make), counting UTF-8 bytes of JSON', async () => {
        const engine = await open();
        const channel = channelName();
        const a = await followed(engine, channel);
        // Escapes and multi-byte characters: the limit counts the JSON's bytes, not characters.
        const data = { 'k\u00e9y': 'caf\u00e9 \u2603 "q" \n', n: 12.5, list: [1, { x: null }] };
        const limit = { maxDataBytes: bytesOf(data) };
        expect(await engine.append(channel, { set: data }, undefined, limit)).toMatchObject({ status: 'applied', seq: 1 });
        expect(await engine.append(channel, { set: { n: 12.25 } }, undefined, limit)).toEqual({ status: 'tooLarge', bytes: limit.maxDataBytes + 1 });
        expect(await engine.append(channel, { set: { z: 1 } }, undefined, limit)).toEqual({ status: 'tooLarge', bytes: bytesOf({ ...data, z: 1 }) });
        // A delete and a set of one key in one change: the set counts (deletes go first).
        expect(await engine.append(channel, { delete: ['n'], set: { n: 99.5 } }, undefined, limit)).toMatchObject({ status: 'applied', seq: 2 });
        // Deleting makes room.
        expect(await engine.append(channel, { delete: ['list'] }, undefined, limit)).toMatchObject({ status: 'applied', seq: 3 });
        expect(await engine.append(channel, { set: { z: [1, 2] } }, undefined, limit)).toMatchObject({ status: 'applied', seq: 4 });
        await a.until(() => a.entries.length === 4, '4 entries');
        expect(a.entries.map((e) => e.entry.seq)).toEqual([1, 2, 3, 4]);
        const b = await followed(engine, channel);
        expect(b.following.data).toEqual({ 'k\u00e9y': data['k\u00e9y'], n: 99.5, z: [1, 2] });
        expect(bytesOf(b.following.data)).toBeLessThanOrEqual(limit.maxDataBytes);
      });

      it('counts what is already stored, from any writer: a document over a lowered limit takes changes that shrink it, not ones that grow it', async () => {
        const engine = await open();
        const channel = channelName();
        await followed(engine, channel);
        await engine.append(channel, { set: { a: 'x'.repeat(50), b: 'y'.repeat(50) } }); // no limit given: none judged
        const limit = { maxDataBytes: 60 };
        expect(await engine.append(channel, { set: { a: 'x'.repeat(20) } }, undefined, limit)).toMatchObject({ status: 'applied' });
        expect(await engine.append(channel, { set: { a: 'x'.repeat(21) } }, undefined, limit)).toEqual({ status: 'tooLarge', bytes: bytesOf({ a: 'x'.repeat(21), b: 'y'.repeat(50) }) });
        expect(await engine.append(channel, { set: { c: 1 } }, undefined, { maxDataBytes: bytesOf({ a: 'x'.repeat(20), b: 'y'.repeat(50), c: 1 }) })).toMatchObject({ status: 'applied' });
      });

      it("records an op's refusal ERR_DATA_LIMIT in the same step: a resend gets it again, and the op is never applied", async () => {
        const engine = await open();
        const channel = channelName();
        const a = await followed(engine, channel);
        const limit = { maxDataBytes: 20 };
        const mark = (n: number) => ({ key: 'ann\u0000c1', owner: 'ann', n, at: 1_000 + n });
        expect(await engine.append(channel, { set: { x: 1 } }, { mark: mark(1) }, limit)).toMatchObject({ status: 'applied', seq: 1 });
        expect(await engine.append(channel, { set: { big: 'x'.repeat(20) } }, { mark: mark(2) }, limit)).toMatchObject({ status: 'tooLarge' });
        expect(await engine.append(channel, { set: { big: 'x'.repeat(20) } }, { mark: mark(2) }, { maxDataBytes: 1_000 })).toEqual({ status: 'duplicate', answer: { kind: 'refusal', code: 'ERR_DATA_LIMIT' } });
        expect(await engine.subscribed(channel, 'ann\u0000c1', undefined, 2_000)).toBe(2);
        expect(await engine.append(channel, { set: { y: 2 } }, { mark: mark(3) }, limit)).toMatchObject({ status: 'applied', seq: 2 });
        await a.until(() => a.entries.length === 2, '2 entries');
        expect(a.entries.map((e) => e.entry.changes)).toEqual([{ set: { x: 1 } }, { set: { y: 2 } }]);
        // Version 1: the refusal is kept with the op's id (a new key always grows the document past 2 bytes).
        const id = `op-${Math.random().toString(36).slice(2)}`;
        await followed(engine, 'default');
        expect(await engine.append('default', { set: { [id]: 1 } }, { v1: { id, owner: 'address 1' } }, { maxDataBytes: 2 })).toMatchObject({ status: 'tooLarge' });
        expect(await engine.append('default', { set: { [id]: 1 } }, { v1: { id, owner: 'address 1' } })).toEqual({ status: 'duplicate', answer: { kind: 'refusal', code: 'ERR_DATA_LIMIT' } });
      });
    });

    it('reads the log after a seq while it covers it, and answers undefined past its start, past its end or for another epoch', async () => {
      const engine = await open({ logSize: 5 });
      const channel = channelName();
      const a = await followed(engine, channel);
      for (let i = 1; i <= 8; i++) await engine.append(channel, { set: { n: i } });
      const epoch = a.following.epoch;
      expect((await engine.readLog(channel, epoch, 3))?.map((e) => [e.seq, e.changes.set?.n])).toEqual([
        [4, 4],
        [5, 5],
        [6, 6],
        [7, 7],
        [8, 8],
      ]);
      expect((await engine.readLog(channel, epoch, 6))?.map((e) => e.seq)).toEqual([7, 8]);
      expect(await engine.readLog(channel, epoch, 8)).toEqual([]);
      // Past the last logSize entries the log may or may not still cover `since` (a store may trim
      // approximately), but it never answers with a gap: all of 3..8, or undefined.
      const older = await engine.readLog(channel, epoch, 2);
      if (older !== undefined) expect(older.map((e) => e.seq)).toEqual([3, 4, 5, 6, 7, 8]);
      for (let i = 9; i <= 5_000 / 5; i++) await engine.append(channel, { set: { n: i } });
      expect(await engine.readLog(channel, epoch, 0)).toBeUndefined(); // 1,000 entries later: trimmed
      expect(await engine.readLog(channel, epoch, 9)).toBeUndefined();
      expect(await engine.readLog(channel, `${epoch}x`, 5)).toBeUndefined();
    });

    it('keeps a channel document when nobody follows it; its epoch stays with its seq, or a new one starts at 0', async () => {
      const engine = await open();
      const channel = channelName();
      const a = await followed(engine, channel);
      await engine.append(channel, { set: { kept: true } });
      await engine.append(channel, { set: { more: 1 } });
      await a.following.unfollow();
      const again = await followed(engine, channel);
      expect(again.following.data).toEqual({ kept: true, more: 1 });
      if (again.following.epoch === a.following.epoch) expect(again.following.seq).toBe(2);
      else expect(again.following.seq).toBe(0);
      const next = await engine.append(channel, { delete: ['more'] });
      expect(next).toMatchObject({ status: 'applied', epoch: again.following.epoch, seq: again.following.seq + 1 });
    });

    it('tells joins and leaves to every follower; a member whose connection ended leaves after the grace period unless it comes back', async () => {
      const engine = await open();
      const channel = channelName();
      const a = await followed(engine, channel);
      const b = await followed(engine, channel);
      const ann = { key: 'ann\u0000c1', client: 'c1', user: 'ann', info: { name: 'Ann' } };
      await engine.join(channel, ann, 'h1', 5_000);
      await b.until(() => b.presence.length === 1, 'the join');
      expect(b.presence[0]).toEqual({ type: 'join', member: { ...ann, joinedAt: 5_000 } });
      // The connection ends; another holder takes the member over within the grace period: no leave, no join.
      await engine.detach(channel, ann.key, 'h1', 60_000);
      await engine.join(channel, ann, 'h2', 6_000);
      // The old holder's late detach and leave do nothing now.
      await engine.detach(channel, ann.key, 'h1', 0);
      await engine.leave(channel, ann.key, 'h1');
      const c = await followed(engine, channel);
      expect(c.following.members).toEqual([{ ...ann, joinedAt: 5_000 }]);
      // Its connection ends for good: it leaves after a short grace period.
      await engine.detach(channel, ann.key, 'h2', 30);
      await a.until(() => a.presence.length === 2, 'the leave after the grace period');
      expect(a.presence.map((p) => p.type)).toEqual(['join', 'leave']);
      expect(b.presence.map((p) => p.type)).toEqual(['join', 'leave']);
      // Leaving on purpose: at once.
      await engine.join(channel, { key: '\u0000c2', client: 'c2', user: null }, 'h3', 7_000);
      await engine.leave(channel, '\u0000c2', 'h3');
      await a.until(() => a.presence.length === 4, 'the second join and leave');
      expect(a.presence.slice(2)).toEqual([
        { type: 'join', member: { key: '\u0000c2', client: 'c2', user: null, joinedAt: 7_000 } },
        { type: 'leave', member: { key: '\u0000c2', client: 'c2', user: null, joinedAt: 7_000 } },
      ]);
    });

    it('gives a client id to one user: another user (or none) is refused, the owner and users of other ids are not', async () => {
      const engine = await open();
      const client = `c${Math.random().toString(36).slice(2, 10)}`;
      expect(await engine.claimClient(client, 'ann', 1)).toBe(true);
      expect(await engine.claimClient(client, 'bob', 2)).toBe(false);
      expect(await engine.claimClient(client, null, 3)).toBe(false);
      expect(await engine.claimClient(client, 'ann', 4)).toBe(true);
      expect(await engine.claimClient(`${client}x`, null, 5)).toBe(true);
      expect(await engine.claimClient(`${client}x`, null, 6)).toBe(true);
    });

    it('holds a lease for one owner at a time, renewed by its owner, free once released', async () => {
      const engine = await open();
      const lease = `lease.${Math.random().toString(36).slice(2)}`;
      expect(await engine.lease(lease, 'instance A', 10_000)).toBe(true);
      expect(await engine.lease(lease, 'instance B', 10_000)).toBe(false);
      expect(await engine.lease(lease, 'instance A', 10_000)).toBe(true);
      await engine.releaseLease(lease, 'instance B'); // not B's: nothing happens
      expect(await engine.lease(lease, 'instance B', 10_000)).toBe(false);
      await engine.releaseLease(lease, 'instance A');
      expect(await engine.lease(lease, 'instance B', 10_000)).toBe(true);
      expect(await engine.lease(lease, 'instance A', 10_000)).toBe(false);
    });

    it('closes, twice without harm', async () => {
      const engine = await makeEngine(DEFAULT_LIMITS);
      const stop = engine.onStatus(() => {});
      stop();
      await engine.close();
      await engine.close();
    });
  });
}
