/**
 * The data file's edges: loading (sizes, records, what a startup error says) and writing
 * (a failed write reports its own cause).
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { DataFileError, loadDataFile, writeDataFileAtomic } from '../../src/server/data-file.js';
import { startSyncServer } from '../../src/server/start.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-datafile-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('writing the data file', () => {
  it('reports the write error itself when cleaning up the temp file fails too', () => {
    const dir = tempDir();
    const file = join(dir, 'data.json');
    // Directories where the temp files would go: opening one fails (EISDIR), and so would removing it.
    for (let n = 0; n < 50; n++) mkdirSync(join(dir, `.data.json.${process.pid}.${n}.tmp`));
    let thrown: unknown;
    try {
      writeDataFileAtomic(file, { data: { a: 1 }, appliedOpIds: [] });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DataFileError);
    expect(thrown).toMatchObject({ code: 'ERR_DATA_FILE', path: file, message: expect.stringMatching(/cannot write data file .*EISDIR/) });
    expect(readdirSync(dir)).not.toContain('data.json');
  });
});

describe('loading the data file', () => {
  it("loads each op id's time and owner, and refuses times or owner indexes that do not line up", () => {
    const file = join(tempDir(), 'data.json');
    const state = {
      data: {},
      appliedOpIds: ['a', 'b'],
      appliedOpTimes: [1, 2],
      opOwners: ['address 192.0.2.1', 'session x.1'],
      appliedOpOwners: [0, 1],
      refusedOps: [{ id: 'r', code: 'ERR_INVALID_FRAME', at: 3, owner: 0 }],
    };
    writeFileSync(file, JSON.stringify(state));
    expect(loadDataFile(file)).toEqual(state);
    writeFileSync(file, JSON.stringify({ ...state, appliedOpTimes: [1] }));
    expect(() => loadDataFile(file)).toThrow(/"appliedOpTimes" is not an array of times as long as "appliedOpIds"/);
    writeFileSync(file, JSON.stringify({ ...state, appliedOpOwners: [0, 2] }));
    expect(() => loadDataFile(file)).toThrow(/"appliedOpOwners" is not an array of indexes into "opOwners"/);
    writeFileSync(file, JSON.stringify({ ...state, opOwners: [1, 2] }));
    expect(() => loadDataFile(file)).toThrow(/"opOwners" is not an array of strings/);
    writeFileSync(file, JSON.stringify({ ...state, refusedOps: [{ id: 'r', code: 'E', at: 'soon' }] }));
    expect(() => loadDataFile(file)).toThrow(/"refusedOps" is not an array/);
  });

  it('names the value rule, not a flag, when the file holds a "__proto__" key', async () => {
    for (const data of ['{"__proto__":{"x":1}}', '{"a":{"b":{"__proto__":1}}}']) {
      const file = join(tempDir(), 'data.json');
      writeFileSync(file, `{"data":${data},"appliedOpIds":[]}`);
      const starting = startSyncServer({ control: true, host: '127.0.0.1', port: 0, dataFile: file });
      await expect(starting).rejects.toBeInstanceOf(DataFileError);
      await expect(starting).rejects.toThrow(/the key "__proto__" is not allowed\); no flag allows it: fix the file$/);
    }
  });

  it('keeps the newest dedupSize op ids and refused ids, and drops the refusal messages of an older file', async () => {
    const file = join(tempDir(), 'data.json');
    const ids = Array.from({ length: 50 }, (_, i) => `op-${i}`);
    const refusedOps = ids.map((id) => ({ id: `r-${id}`, code: 'ERR_INVALID_FRAME', message: 'm'.repeat(10_000) }));
    writeFileSync(file, JSON.stringify({ data: { a: 1 }, appliedOpIds: ids, refusedOps }));
    const server = await startSyncServer({ control: true, host: '127.0.0.1', port: 0, dataFile: file, dedupSize: 10 });
    onCleanup(() => server.close());
    const state = server.core.persisted();
    expect(state.appliedOpIds).toEqual(ids.slice(-10));
    expect(state.refusedOps?.map(({ id, code }) => ({ id, code }))).toEqual(ids.slice(-10).map((id) => ({ id: `r-${id}`, code: 'ERR_INVALID_FRAME' })));
    // The startup write already holds the trimmed records.
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(state);
  });
});

describe('persisting refusals', () => {
  it('records refused ids (id and code) with the throttled write, not one synchronous write per refusal', async () => {
    const file = join(tempDir(), 'data.json');
    const server = await startSyncServer({ control: true, host: '127.0.0.1', port: 0, dataFile: file });
    onCleanup(() => server.close());
    const ws = new WebSocket(server.url);
    onCleanup(() => ws.terminate());
    const errors: unknown[] = [];
    const count = 20;
    const done = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type: string };
        if (frame.type === 'error') errors.push(frame);
        if (errors.length === count) resolve();
      });
    });
    await withTimeout(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 'the connection');
    ws.send('{"type":"hello","v":1}');
    const writesBefore = server.stats().persists;
    // Invalid ops (they change nothing), each with a new id, with a long message to the sender.
    for (let i = 0; i < count; i++) ws.send(JSON.stringify({ type: 'op', id: `bad-${i}`, set: {}, pad: 'x'.repeat(1_000) }));
    await withTimeout(done, `${count} refusals`);
    // Synchronously, every refusal would have been one more write before its error frame.
    expect(server.stats().persists - writesBefore).toBeLessThan(count);
    await server.close(); // flushes what the throttle still held
    const written = JSON.parse(readFileSync(file, 'utf8')) as { refusedOps: unknown[] };
    expect(written.refusedOps).toHaveLength(count);
    expect(written.refusedOps[0]).toMatchObject({ id: 'bad-0', code: 'ERR_INVALID_FRAME' });
  });
});
