/**
 * The op records (applied ids, refused ids): what a flood of fresh ids can and cannot do, and
 * what a restart loads. Time is injected (`now`).
 */
import { describe, expect, it } from 'vitest';
import { createSyncServer, type PersistedState, type SyncServer } from '../../src/server/sync-server.js';

interface Frame {
  type: string;
  [key: string]: unknown;
}

function peerOn(server: SyncServer, owner?: string) {
  const frames: Frame[] = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const session = server.connect(
    {
      send: (text: string) => frames.push(JSON.parse(text) as Frame),
      close: (code: number, reason: string) => closes.push({ code, reason }),
      bufferedAmount: 0,
    },
    owner === undefined ? {} : { owner },
  );
  session.receive('{"type":"hello","v":1}');
  return {
    frames,
    closes,
    send: (frame: unknown) => session.receive(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    of: (type: string) => frames.filter((f) => f.type === type),
  };
}

const op = (id: string, changes: Record<string, unknown>) => ({ type: 'op', id, ...changes });

function clockAt(start = 0) {
  const clock = { time: start, now: () => clock.time };
  return clock;
}

describe('the dedup record under a flood of fresh ids', () => {
  it('keeps an honest id inside the retention window: the flood gets 1013, the resend only its ack', () => {
    const clock = clockAt();
    const server = createSyncServer({ dedupSize: 3, dedupRetentionMs: 1_000, now: clock.now });
    const honest = peerOn(server);
    honest.send(op('honest', { set: { balance: 100 } })); // applied; say its ack was lost with the connection
    peerOn(server).send(op('other', { set: { balance: 42 } }));

    const attacker = peerOn(server);
    attacker.send(op('flood-1', { set: { x: 1 } }));
    attacker.send(op('flood-2', { set: { x: 2 } }));
    expect(attacker.closes).toEqual([{ code: 1013, reason: 'too many ops; try again later' }]);
    expect(server.data()).toEqual({ balance: 42, x: 1 });
    expect(server.counters.opsDeferred).toBe(1);
    expect(server.persisted().appliedOpIds).toEqual(['honest', 'other', 'flood-1']);

    const resent = peerOn(server);
    resent.send(op('honest', { set: { balance: 100 } }));
    expect(resent.of('ack')).toEqual([{ type: 'ack', id: 'honest' }]);
    expect(server.counters.opsDuplicate).toBe(1);
    expect(server.data()).toEqual({ balance: 42, x: 1 });
  });

  it('forgets the oldest id once it is past the retention window', () => {
    const clock = clockAt();
    const server = createSyncServer({ dedupSize: 2, dedupRetentionMs: 1_000, now: clock.now });
    const client = peerOn(server);
    client.send(op('a', { set: { a: 1 } }));
    clock.time = 500;
    client.send(op('b', { set: { b: 1 } }));
    clock.time = 999;
    client.send(op('c', { set: { c: 1 } })); // it holds every young id: deferred
    expect(client.closes).toMatchObject([{ code: 1013 }]);
    clock.time = 1_000;
    const later = peerOn(server);
    later.send(op('c', { set: { c: 1 } }));
    expect(later.of('ack')).toEqual([{ type: 'ack', id: 'c' }]);
    expect(server.persisted().appliedOpIds).toEqual(['b', 'c']);
  });

  it('protects the refused-id record the same way', () => {
    const clock = clockAt();
    const server = createSyncServer({ dedupSize: 2, dedupRetentionMs: 1_000, now: clock.now });
    const honest = peerOn(server);
    honest.send(op('bad', { set: {} }));
    const attacker = peerOn(server);
    attacker.send(op('junk-1', {}));
    attacker.send(op('junk-2', {}));
    expect(attacker.of('error').map((e) => e.id)).toEqual(['junk-1']);
    expect(attacker.closes).toEqual([{ code: 1013, reason: 'too many ops; try again later' }]);
    expect(server.counters.opsDeferred).toBe(1);

    const resent = peerOn(server);
    resent.send(op('bad', { set: { fixed: true } }));
    expect(resent.of('error')).toMatchObject([{ id: 'bad', code: 'ERR_INVALID_FRAME' }]);
    expect(server.data()).toEqual({});
  });

  it('counts an id recorded in the future (the wall clock stepped back) as expired', () => {
    const clock = clockAt(1_000_000);
    const server = createSyncServer({ dedupSize: 2, dedupRetentionMs: 60_000, now: clock.now });
    const client = peerOn(server);
    client.send(op('a', { set: { a: 1 } }));
    client.send(op('b', { set: { b: 1 } }));
    clock.time -= 3_600_000; // one hour back: 'a' and 'b' now look recorded an hour from now
    const after = peerOn(server);
    after.send(op('c', { set: { c: 1 } }));
    expect(after.closes).toEqual([]);
    expect(after.of('ack')).toEqual([{ type: 'ack', id: 'c' }]);
    expect(server.persisted().appliedOpIds).toEqual(['b', 'c']);
  });

  it('with dedupRetentionMs 0, forgets by dedupSize alone', () => {
    const server = createSyncServer({ dedupSize: 1, dedupRetentionMs: 0, now: () => 0 });
    const client = peerOn(server);
    client.send(op('a', { set: { a: 1 } }));
    client.send(op('b', { set: { b: 1 } }));
    expect(client.closes).toEqual([]);
    expect(server.persisted().appliedOpIds).toEqual(['b']);
  });
});

describe('a full record makes room fairly (by owner: the address group, or the session)', () => {
  it('a burst from one owner costs that owner its own oldest ids, not the others their writes', () => {
    const clock = clockAt();
    const server = createSyncServer({ dedupSize: 4, dedupRetentionMs: 60_000, now: clock.now });
    const honest = peerOn(server, 'honest');
    honest.send(op('h1', { set: { balance: 100 } }));
    const flooder = peerOn(server, 'flooder');
    for (const id of ['f1', 'f2', 'f3']) flooder.send(op(id, { set: { x: id } }));
    flooder.send(op('f4', { set: { x: 'f4' } })); // the record is full; the flooder holds the most
    expect(flooder.closes).toEqual([{ code: 1013, reason: 'too many ops; try again later' }]);

    const other = peerOn(server, 'other');
    other.send(op('o1', { set: { y: 1 } })); // room made: the flooder's oldest id goes
    expect(other.closes).toEqual([]);
    expect(other.of('ack')).toEqual([{ type: 'ack', id: 'o1' }]);
    expect(server.persisted().appliedOpIds).toEqual(['h1', 'f2', 'f3', 'o1']);

    const resent = peerOn(server, 'honest');
    resent.send(op('h1', { set: { balance: 100 } }));
    expect(resent.of('ack')).toEqual([{ type: 'ack', id: 'h1' }]);
    expect(server.counters.opsDuplicate).toBe(1);
    expect(server.counters.opsDeferred).toBe(1);
  });

  it('counts every connection of one owner together: reconnecting does not reset its share', () => {
    const server = createSyncServer({ dedupSize: 3, dedupRetentionMs: 60_000, now: () => 0 });
    peerOn(server, 'a').send(op('a1', { set: { a: 1 } }));
    peerOn(server, 'b').send(op('b1', { set: { b: 1 } }));
    peerOn(server, 'b').send(op('b2', { set: { b: 2 } }));
    const again = peerOn(server, 'b');
    again.send(op('b3', { set: { b: 3 } }));
    expect(again.closes).toMatchObject([{ code: 1013 }]);
    const a = peerOn(server, 'a');
    a.send(op('a2', { set: { a: 2 } }));
    expect(a.of('ack')).toEqual([{ type: 'ack', id: 'a2' }]);
    expect(server.persisted().appliedOpIds).toEqual(['a1', 'b2', 'a2']);
  });

  it('shares the refused-id record the same way', () => {
    const server = createSyncServer({ dedupSize: 3, dedupRetentionMs: 60_000, now: () => 0 });
    const flooder = peerOn(server, 'flooder');
    for (const id of ['j1', 'j2', 'j3', 'j4']) flooder.send(op(id, {}));
    expect(flooder.of('error').map((e) => e.id)).toEqual(['j1', 'j2', 'j3']);
    expect(flooder.closes).toMatchObject([{ code: 1013 }]);
    const honest = peerOn(server, 'honest');
    honest.send(op('bad', {}));
    expect(honest.of('error')).toMatchObject([{ id: 'bad', code: 'ERR_INVALID_FRAME' }]);
    expect(server.persisted().refusedOps?.map((r) => r.id)).toEqual(['j2', 'j3', 'bad']);
  });
});

describe('loading the records', () => {
  it("keeps each id's recording time and owner across a restart", () => {
    const clock = clockAt(1_000);
    const first = createSyncServer({ dedupSize: 3, dedupRetentionMs: 60_000, now: clock.now });
    peerOn(first, 'a').send(op('a1', { set: { a: 1 } }));
    clock.time = 2_000;
    for (const id of ['b1', 'b2']) peerOn(first, 'b').send(op(id, { set: { b: id } }));
    const state = JSON.parse(JSON.stringify(first.persisted())) as PersistedState;
    expect(state.appliedOpTimes).toEqual([1_000, 2_000, 2_000]);

    clock.time = 30_000; // restarted within the window: every id is still young
    const second = createSyncServer({ dedupSize: 3, dedupRetentionMs: 60_000, now: clock.now, initial: state });
    const b = peerOn(second, 'b');
    b.send(op('b3', { set: { b: 3 } }));
    expect(b.closes).toMatchObject([{ code: 1013 }]); // b still holds the most
    const a = peerOn(second, 'a');
    a.send(op('a1', { set: { a: 1 } }));
    expect(a.of('ack')).toEqual([{ type: 'ack', id: 'a1' }]);
    expect(second.counters.opsDuplicate).toBe(1);

    clock.time = 62_000; // past the window: the restart does not renew it
    const later = peerOn(second, 'b');
    later.send(op('b3', { set: { b: 3 } }));
    expect(later.of('ack')).toEqual([{ type: 'ack', id: 'b3' }]);
  });

  it('counts ids from a file without times as recorded long ago: a full record does not block writes after a restart', () => {
    const server = createSyncServer({
      dedupSize: 2,
      dedupRetentionMs: 60_000,
      now: () => 5_000,
      initial: { data: {}, appliedOpIds: ['x', 'y'], refusedOps: [{ id: 'r1', code: 'ERR_INVALID_FRAME' }] },
    });
    const client = peerOn(server);
    client.send(op('fresh', { set: { a: 1 } }));
    expect(client.closes).toEqual([]);
    expect(client.of('ack')).toEqual([{ type: 'ack', id: 'fresh' }]);
    expect(server.persisted().appliedOpIds).toEqual(['y', 'fresh']);
    client.send(op('y', { set: { a: 2 } })); // still recognised until pushed out by size
    client.send(op('fresh2', { set: { b: 1 } })); // 'y' is not young: it makes room, nobody is deferred
    expect(client.closes).toEqual([]);
    expect(client.of('ack').map((f) => f.id)).toEqual(['fresh', 'y', 'fresh2']);
    expect(server.data()).toEqual({ a: 1, b: 1 });
    expect(server.persisted().appliedOpIds).toEqual(['fresh', 'fresh2']);
  });

  it('keeps the newest dedupSize loaded ids, and acknowledges their resends', () => {
    const server = createSyncServer({
      dedupSize: 2,
      dedupRetentionMs: 1_000,
      now: () => 5_000,
      initial: { data: {}, appliedOpIds: ['old', 'mid', 'new'], refusedOps: [] },
    });
    expect(server.persisted().appliedOpIds).toEqual(['mid', 'new']);
    const client = peerOn(server);
    client.send(op('mid', { set: { a: 1 } }));
    expect(client.of('ack')).toEqual([{ type: 'ack', id: 'mid' }]);
    expect(server.data()).toEqual({});
  });
});
