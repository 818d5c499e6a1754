/**
 * The sync server's logic (`createSyncServer`) in memory, against the rules of
 * issue 11: the transient/final rule, the value rule and its limits, write
 * then broadcast then ack, the document size limit, and the slow-consumer
 * check. Peers are plain objects that record what they are sent.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { loadDataFile } from '../../src/server/data-file.js';
import { ChangeRefusedError, InitialStateError, createSyncServer, type SyncServer, type SyncServerOptions } from '../../src/server/sync-server.js';
import type { Changes } from '../../src/sync/messages.js';
import { DEFAULT_VALUE_LIMITS } from '../../src/sync/values.js';
import { onCleanup } from '../support/cleanup.js';

interface Frame {
  type: string;
  [key: string]: unknown;
}

/** A session on `server` whose peer records frames and closes; `buffered` is its bufferedAmount. */
function peerOn(server: SyncServer) {
  const frames: Frame[] = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const peer = {
    buffered: 0,
    send: (text: string) => frames.push(JSON.parse(text) as Frame),
    close: (code: number, reason: string) => closes.push({ code, reason }),
    get bufferedAmount() {
      return peer.buffered;
    },
  };
  const session = server.connect(peer);
  return {
    peer,
    frames,
    closes,
    send: (frame: unknown) => session.receive(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    hello() {
      session.receive('{"type":"hello","v":1}');
      return this;
    },
    of: (type: string) => frames.filter((f) => f.type === type),
  };
}

/** A new client's snapshot equals the server's data (as JSON: -0 is sent as 0), and the server's state still serializes. */
function expectHealthy(server: SyncServer): void {
  const client = peerOn(server).hello();
  const [snapshot] = client.of('snapshot');
  expect(snapshot?.data).toEqual(JSON.parse(JSON.stringify(server.data())));
  expect(() => JSON.stringify(server.persisted())).not.toThrow();
}

const op = (id: string, changes: Record<string, unknown>) => ({ type: 'op', id, ...changes });

describe('transient and final failures', () => {
  it('answers an op before the hello with an error without its id, and applies it once when sent after', () => {
    const server = createSyncServer();
    const client = peerOn(server);
    client.send(op('early', { set: { a: 1 } }));
    expect(client.frames).toEqual([{ type: 'error', code: 'ERR_HELLO_REQUIRED', message: expect.stringMatching(/send hello first/) }]);
    expect(server.seq).toBe(0);
    client.hello().send(op('early', { set: { a: 1 } }));
    expect(client.of('ack')).toEqual([{ type: 'ack', id: 'early' }]);
    expect(server.data()).toEqual({ a: 1 });
    expect(server.counters.opsApplied).toBe(1);
  });

  it('answers a resend of a refused id with the same refusal, even when corrected', () => {
    const server = createSyncServer();
    const client = peerOn(server).hello();
    client.send('{"type":"op","id":"bad","set":{"n":1e400}}');
    client.send(op('bad', { set: { n: 1 } }));
    client.send('{"type":"op","id":"bad","set":{"n":1e400}}');
    const errors = client.of('error');
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatchObject({ code: 'ERR_INVALID_FRAME', id: 'bad', message: expect.stringMatching(/Infinity/) });
    // The record keeps the id and the code, not the message.
    const again = { type: 'error', code: 'ERR_INVALID_FRAME', message: 'op bad was refused before (ERR_INVALID_FRAME)', id: 'bad' };
    expect(errors.slice(1)).toEqual([again, again]);
    expect(client.of('ack')).toEqual([]);
    expect(server.seq).toBe(0);
    expect(server.data()).toEqual({});
    expect(server.counters.opsRefused).toBe(3);
  });

  it('keeps a refusal across a restart from the persisted state, and loads a state without refusals', () => {
    const first = createSyncServer();
    peerOn(first).hello().send(op('bad', { set: {} }));
    const state = first.persisted();
    expect(state.refusedOps).toMatchObject([{ id: 'bad', code: 'ERR_INVALID_FRAME' }]);

    const second = createSyncServer({ initial: JSON.parse(JSON.stringify(state)) as typeof state });
    const client = peerOn(second).hello();
    client.send(op('bad', { set: { fixed: true } }));
    expect(client.of('error')).toEqual([{ type: 'error', code: 'ERR_INVALID_FRAME', message: 'op bad was refused before (ERR_INVALID_FRAME)', id: 'bad' }]);
    expect(second.data()).toEqual({});

    const old = createSyncServer({ initial: { data: { a: 1 }, appliedOpIds: ['x'] } });
    const resent = peerOn(old).hello();
    resent.send(op('x', { set: { a: 2 } }));
    expect(resent.of('ack')).toEqual([{ type: 'ack', id: 'x' }]);
    expect(old.data()).toEqual({ a: 1 });
  });

  it('loads a data file written before refusals were recorded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'statesocket-core-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'data.json');
    writeFileSync(file, JSON.stringify({ data: { a: 1 }, appliedOpIds: ['op-1'] }));
    expect(loadDataFile(file)).toEqual({ data: { a: 1 }, appliedOpIds: ['op-1'] });
    // A file from before the record dropped messages: loads, without them.
    writeFileSync(file, JSON.stringify({ data: {}, appliedOpIds: [], refusedOps: [{ id: 'r', code: 'ERR_INVALID_FRAME', message: 'm'.repeat(100_000) }] }));
    expect(loadDataFile(file)?.refusedOps).toEqual([{ id: 'r', code: 'ERR_INVALID_FRAME' }]);
    writeFileSync(file, JSON.stringify({ data: {}, appliedOpIds: [], refusedOps: [{ id: 'r', code: 'ERR_INVALID_FRAME' }] }));
    expect(loadDataFile(file)?.refusedOps).toEqual([{ id: 'r', code: 'ERR_INVALID_FRAME' }]);
    writeFileSync(file, JSON.stringify({ data: {}, appliedOpIds: [], refusedOps: [{ id: 'r' }] }));
    expect(() => loadDataFile(file)).toThrow(/"refusedOps" is not an array of \{id, code\}/);
  });

  it('bounds the refusal record by dedupSize, oldest forgotten first', () => {
    const server = createSyncServer({ dedupSize: 2, dedupRetentionMs: 0 });
    const client = peerOn(server).hello();
    for (const id of ['a', 'b', 'c']) client.send(op(id, {}));
    expect(server.persisted().refusedOps?.map((r) => r.id)).toEqual(['b', 'c']);
  });

  it('persists a refusal before sending it; when that fails, closes with 1011 and sends no error with the id', () => {
    let fail = true;
    const server = createSyncServer({
      onChange: () => {
        if (fail) throw new Error('disk gone');
      },
    });
    const client = peerOn(server).hello();
    client.send(op('bad', {}));
    expect(client.of('error')).toEqual([]);
    expect(client.closes).toEqual([{ code: 1011, reason: expect.stringMatching(/send it again/) }]);
    expect(server.persisted().refusedOps).toEqual([]);
    fail = false;
    const again = peerOn(server).hello();
    again.send(op('bad', {}));
    expect(again.of('error')).toMatchObject([{ id: 'bad' }]);
  });
});

describe('values (poison ops)', () => {
  const limit = DEFAULT_VALUE_LIMITS.maxValueDepth;
  const maxOp = DEFAULT_VALUE_LIMITS.maxOpBytes;

  /** A value as JSON text, with the outcome the rule gives it. */
  interface Poison {
    text: string;
    expected: 'ack' | RegExp;
  }
  const nested = fc
    .record({ depth: fc.constantFrom(limit - 1, limit, limit + 1, 5_000, 100_000), object: fc.boolean() })
    .map(({ depth, object }): Poison => {
      const [open, close] = object ? ['{"a":', '}'] : ['[', ']'];
      return { text: `${open.repeat(depth)}1${close.repeat(depth)}`, expected: depth <= limit ? 'ack' : /nests deeper than maxValueDepth/ };
    });
  // {"k":"…"} is the string plus 8 bytes
  const long = fc
    .constantFrom(1, maxOp - 9, maxOp - 8, maxOp - 7, 2 * maxOp)
    .map((n): Poison => ({ text: JSON.stringify('é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2)), expected: n + 8 <= maxOp ? 'ack' : /over maxOpBytes/ }));
  const manyKeys = fc.integer({ min: 0, max: 40_000 }).map((n): Poison => {
    const value = Object.fromEntries(Array.from({ length: n }, (_, i) => [`key${i}`, i]));
    return { text: JSON.stringify(value), expected: Buffer.byteLength(JSON.stringify({ k: value })) <= maxOp ? 'ack' : /over maxOpBytes/ };
  });
  const numbers = fc
    .constantFrom('1e400', '-1e400', '[1e999]', '1e308', '-0', '5e-324', '123456789012345678901234567890')
    .map((text): Poison => ({ text, expected: /Infinity/.test(String(JSON.parse(text))) ? /numbers must be finite/ : 'ack' }));

  it('refuses every value the rule refuses with ERR_INVALID_FRAME and its id, applies the rest, and stays healthy', () => {
    const server = createSyncServer();
    const client = peerOn(server).hello();
    let n = 0;
    fc.assert(
      fc.property(fc.oneof(nested, long, manyKeys, numbers), ({ text, expected }) => {
        const id = `p${n++}`;
        const seq = server.seq;
        client.frames.length = 0;
        client.send(`{"type":"op","id":"${id}","set":{"k":${text}}}`);
        const answer = client.frames.at(-1);
        if (expected === 'ack') {
          expect(answer).toEqual({ type: 'ack', id });
          expect(server.seq).toBe(seq + 1);
        } else {
          expect(answer).toMatchObject({ type: 'error', code: 'ERR_INVALID_FRAME', id, message: expect.stringMatching(expected) });
          expect(server.seq).toBe(seq);
          expect(client.frames).toHaveLength(1); // no patch
        }
        expect(client.closes).toEqual([]);
        expectHealthy(server);
      }),
      { numRuns: 60 },
    );
  });

  it('answers a 100 000-deep frame that is not an op, or not JSON, without harm', () => {
    const server = createSyncServer();
    const client = peerOn(server).hello();
    client.send(`{"type":"hello","v":1,"extra":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    client.send(`{"type":"op","id":"x","set":${'['.repeat(100_000)}`);
    client.send(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`);
    const codes = client.of('error').map((e) => e.code);
    expect(codes).toEqual(['ERR_MALFORMED_FRAME', 'ERR_INVALID_FRAME']);
    expect(client.closes).toEqual([]);
    expectHealthy(server);
  });

  it('applies the same rule to change() as to ops (the control route, the feed and the simulator use it)', () => {
    const server = createSyncServer();
    const client = peerOn(server).hello();
    const bad = JSON.parse('{"set":{"__proto__":{"polluted":true}}}') as { set: Record<string, number> };
    client.send({ type: 'op', id: 'proto', ...bad });
    const refusal = client.of('error')[0];
    expect(refusal).toMatchObject({ code: 'ERR_INVALID_FRAME', id: 'proto' });
    expect(() => server.change(bad)).toThrow(ChangeRefusedError);
    try {
      server.change(bad);
    } catch (error) {
      expect((error as ChangeRefusedError).code).toBe('ERR_INVALID_FRAME');
      expect((error as Error).message).toBe(refusal?.message);
    }
    expect(() => server.change({})).toThrow(/change nothing/);
    expect(() => server.change({ set: { n: Number.POSITIVE_INFINITY } })).toThrow(/numbers must be finite/);
    expect(server.seq).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('write, then broadcast, then ack', () => {
  it('neither applies, broadcasts nor acks an op whose write fails; the resend applies it once', () => {
    let failNext = false;
    const writes: Array<Record<string, unknown>> = [];
    const server = createSyncServer({
      onChange: (state) => {
        if (failNext) {
          failNext = false;
          throw new Error('EACCES');
        }
        writes.push(state().data);
      },
    });
    const writer = peerOn(server).hello();
    const other = peerOn(server).hello();
    const watcher = peerOn(server).hello();
    failNext = true;
    writer.send(op('x', { set: { k: 'from x' } }));
    expect(writer.closes).toEqual([{ code: 1011, reason: expect.stringMatching(/not applied/) }]);
    expect(writer.of('ack')).toEqual([]);
    expect(writer.of('error')).toEqual([]);
    expect(watcher.of('patch')).toEqual([]);
    expect(server.data()).toEqual({});
    expect(server.seq).toBe(0);
    expect(server.counters.opsNotPersisted).toBe(1);

    other.send(op('y', { set: { k: 'from y' } }));
    const resent = peerOn(server).hello();
    resent.send(op('x', { set: { k: 'from x' } }));
    resent.send(op('x', { set: { k: 'from x' } }));
    expect(resent.of('ack')).toEqual([{ type: 'ack', id: 'x' }, { type: 'ack', id: 'x' }]);
    expect(watcher.of('patch').map((p) => [p.seq, p.set])).toEqual([
      [1, { k: 'from y' }],
      [2, { k: 'from x' }],
    ]);
    expect(server.counters).toMatchObject({ opsApplied: 2, opsDuplicate: 1 });
    expect(writes).toEqual([{ k: 'from y' }, { k: 'from x' }]);
  });

  it('undoes a server change whose write fails: change() throws and nobody sees it', () => {
    let fail = false;
    const server = createSyncServer({
      initial: { data: { keep: 1 }, appliedOpIds: [] },
      onChange: () => {
        if (fail) throw new Error('ENOSPC');
      },
    });
    const watcher = peerOn(server).hello();
    fail = true;
    expect(() => server.change({ set: { keep: 2, add: 3 }, delete: ['keep'] })).toThrow('ENOSPC');
    expect(server.data()).toEqual({ keep: 1 });
    expect(server.dataBytes).toBe(Buffer.byteLength(JSON.stringify({ keep: 1 })));
    expect(server.seq).toBe(0);
    expect(watcher.of('patch')).toEqual([]);
  });

  it('stringifies a patch once for every session', () => {
    const server = createSyncServer();
    for (let i = 0; i < 5; i++) peerOn(server).hello();
    const stringify = vi.spyOn(JSON, 'stringify');
    onCleanup(() => stringify.mockRestore());
    server.change({ set: { a: 1 } });
    expect(stringify).toHaveBeenCalledTimes(1);
  });
});

describe('document size', () => {
  it('keeps the size of the document per key, equal to its JSON', () => {
    const key = fc.constantFrom('a', 'b', 'ü', 'k"1', 'long-key-name');
    const change = fc.record({ set: fc.dictionary(key, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }), delete: fc.array(key, { maxLength: 2 }) });
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 20 }), (changes) => {
        const server = createSyncServer();
        for (const c of changes) {
          try {
            server.change(c as Changes);
          } catch (error) {
            if (!(error instanceof ChangeRefusedError)) throw error; // an empty change
          }
          expect(server.dataBytes).toBe(Buffer.byteLength(JSON.stringify(server.data())));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('refuses an op that would take the document over maxDataBytes with ERR_DATA_LIMIT, and lets a smaller one through', () => {
    const options: SyncServerOptions = { maxDataBytes: 100, maxOpBytes: 1000 };
    const server = createSyncServer(options);
    const client = peerOn(server).hello();
    client.send(op('fill', { set: { a: 'x'.repeat(80) } })); // {"a":"x…"} = 88 bytes
    client.send(op('over', { set: { b: 'x'.repeat(10) } })); // +17 bytes
    expect(client.frames.at(-1)).toMatchObject({ type: 'error', code: 'ERR_DATA_LIMIT', id: 'over', message: expect.stringMatching(/over maxDataBytes \(100\)/) });
    expect(server.dataBytes).toBe(88);
    client.send(op('shrink', { set: { a: 'x' }, delete: [] }));
    client.send(op('fits', { set: { b: 'x'.repeat(10) } }));
    expect(client.of('ack').map((a) => a.id)).toEqual(['fill', 'shrink', 'fits']);
    expect(() => server.change({ set: { c: 'x'.repeat(90) } })).toThrow(expect.objectContaining({ code: 'ERR_DATA_LIMIT' }));
  });

  it('refuses initial data larger than maxDataBytes: its snapshot would be over what clients accept', () => {
    const start = () => createSyncServer({ maxDataBytes: 10, initial: { data: { a: 'x'.repeat(50) }, appliedOpIds: [] } });
    expect(start).toThrow(InitialStateError);
    expect(start).toThrow(expect.objectContaining({ rule: 'size', bytes: 58, message: 'initial data is 58 bytes of JSON, over maxDataBytes (10)' }));
    expect(createSyncServer({ maxDataBytes: 58, initial: { data: { a: 'x'.repeat(50) }, appliedOpIds: [] } }).dataBytes).toBe(58);
  });

  it('keeps at most a document’s worth of patches for replay; a client further behind gets a snapshot', () => {
    const server = createSyncServer({ maxDataBytes: 1_000, logSize: 100 });
    const client = peerOn(server).hello();
    for (let i = 0; i < 20; i++) server.change({ set: { pad: 'x'.repeat(90) } }); // about 150 bytes a patch
    const patches = client.of('patch');
    const recent = peerOn(server);
    recent.send({ type: 'hello', v: 1, epoch: server.epoch, since: 15 });
    expect(recent.of('patch').map((p) => p.seq)).toEqual([16, 17, 18, 19, 20]);
    const behind = peerOn(server);
    behind.send({ type: 'hello', v: 1, epoch: server.epoch, since: 5 });
    expect(behind.of('patch')).toEqual([]);
    expect(behind.of('snapshot')).toHaveLength(1);
    expect(patches).toHaveLength(20);
  });

  it('refuses initial data that breaks the value rule', () => {
    expect(() => createSyncServer({ initial: { data: { deep: JSON.parse('[[[1]]]') as never }, appliedOpIds: [] }, maxValueDepth: 2 })).toThrow(RangeError);
  });
});

describe('slow consumers', () => {
  it('does not count the snapshot it sends on the hello', () => {
    const server = createSyncServer({ maxBufferedBytes: 100 });
    server.change({ set: { big: 'x'.repeat(1_000) } });
    const client = peerOn(server);
    // Everything sent stays buffered: a client that is not reading yet.
    const send = client.peer.send;
    client.peer.send = (text: string) => {
      client.peer.buffered += Buffer.byteLength(text);
      return send(text);
    };
    client.hello();
    expect(client.closes).toEqual([]);
    server.change({ set: { a: 1 } });
    expect(client.closes).toEqual([]);
    server.change({ set: { pad: 'x'.repeat(100) } });
    expect(client.closes).toEqual([{ code: 1013, reason: 'slow consumer: over 100 bytes buffered' }]);
    expect(server.counters.slowConsumers).toBe(1);
  });

  it('counts every byte once the snapshot has drained', () => {
    const server = createSyncServer({ maxBufferedBytes: 100 });
    server.change({ set: { big: 'x'.repeat(1_000) } });
    const client = peerOn(server).hello();
    client.peer.buffered = 0; // the snapshot went out
    client.peer.buffered = 150; // then 150 bytes of patches piled up
    server.change({ set: { a: 1 } });
    expect(client.closes).toMatchObject([{ code: 1013 }]);
  });
});
