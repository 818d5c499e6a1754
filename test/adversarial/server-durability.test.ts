/**
 * Write, then broadcast, then ack (issue 11, item 2), against the reference
 * server as a real process with --data-file: a write that fails at run time
 * (its folder renamed away) and a SIGKILL loop, with a writer and a watcher
 * written from docs/protocol-v1.md alone. No op's patch may arrive twice, and
 * every acked op must be in the final data.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { onCleanup } from '../support/cleanup.js';
import { control, kill, killAll, serverState, startServerProcess, stopAllConnections } from '../integration/server-process.js';
import { greetedClient, type Frame, type RawClient } from './raw-client.js';

afterEach(async () => {
  stopAllConnections();
  await killAll();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-durable-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const patchesFor = (client: RawClient, key: string) => client.frames.filter((f) => f.type === 'patch' && Object.hasOwn((f.set as object) ?? {}, key));

describe('write, then broadcast, then ack', () => {
  it('neither applies, broadcasts nor acks an op whose write fails; the resend applies it once', async () => {
    const dir = tempDir();
    const folder = join(dir, 'data');
    mkdirSync(folder);
    const server = await startServerProcess(['--no-app', '--data-file', join(folder, 'data.json')]);
    const { client: watcher } = await greetedClient(server.url);
    const { client: writer } = await greetedClient(server.url);

    renameSync(folder, join(dir, 'moved'));
    writer.send({ type: 'op', id: 'x', set: { k: 'x' } });
    expect((await writer.closed()).code).toBe(1011);
    expect(writer.frames.filter((f) => f.type === 'ack' || f.type === 'error')).toEqual([]);
    const response = await control(server, 'change', { set: { control: 1 } });
    expect(response.status).toBe(500);
    const failed = await serverState(server);
    expect(failed.data).toEqual({});
    expect(failed.seq).toBe(0);

    renameSync(join(dir, 'moved'), folder);
    const { client: again } = await greetedClient(server.url);
    again.send({ type: 'op', id: 'x', set: { k: 'x' } });
    again.send({ type: 'op', id: 'x', set: { k: 'x' } });
    await again.next((f) => f.type === 'ack', 'the first ack');
    await again.next((f) => f.type === 'ack', 'the second ack', again.frames.findIndex((f) => f.type === 'ack') + 1);
    await watcher.next((f) => f.type === 'patch', 'the patch');
    expect(patchesFor(watcher, 'k').map((p: Frame) => p.seq)).toEqual([1]);
    const state = await serverState(server);
    expect(state.data).toEqual({ k: 'x' });
    expect(state.counters).toMatchObject({ opsApplied: 1, opsDuplicate: 1, persistFailures: 2 });
    expect(JSON.parse(readFileSync(join(folder, 'data.json'), 'utf8')).data).toEqual({ k: 'x' });
  });

  it('never shows a watcher an op twice across SIGKILL and restart, and keeps every acked op', async () => {
    const file = join(tempDir(), 'data.json');
    const rounds = 5;
    const perRound = 40;
    const outbox = new Map<string, Record<string, number>>(); // id → set, in send order
    const acked = new Set<string>();
    const seen = new Map<string, string>(); // key → "epoch/seq" of the patch that carried it
    const twice: string[] = [];
    let position: { epoch: string; since: number } | undefined;
    let port = 0;
    let next = 0;

    const record = (watcher: RawClient) => {
      for (const frame of watcher.frames) {
        if (frame.type === 'snapshot' || frame.type === 'patch') position = { epoch: frame.epoch as string, since: frame.seq as number };
        if (frame.type !== 'patch') continue;
        for (const key of Object.keys((frame.set as object) ?? {})) {
          const at = `${frame.epoch as string}/${frame.seq as number}`;
          if (seen.has(key)) twice.push(`${key} at ${seen.get(key)} and ${at}`);
          seen.set(key, at);
        }
      }
    };
    const settle = (writer: RawClient) => {
      for (const frame of writer.frames) {
        if (frame.type === 'error') throw new Error(`the server refused ${JSON.stringify(frame)}`);
        if (frame.type !== 'ack') continue;
        outbox.delete(frame.id as string);
        acked.add(frame.id as string);
      }
    };

    for (let round = 0; round < rounds; round++) {
      const server = await startServerProcess(['--no-app', '--data-file', file], port);
      port = server.port;
      const { client: watcher } = await greetedClient(server.url, position === undefined ? {} : position);
      const { client: writer } = await greetedClient(server.url);
      for (let i = 0; i < perRound; i++, next++) outbox.set(`w-${next}`, { [`op${next}`]: next });
      // The outbox in order: ops not acked before the last kill first, then this round's.
      for (const [id, set] of outbox) writer.send({ type: 'op', id, set });
      const last = round === rounds - 1;
      if (last) {
        for (const id of outbox.keys()) await writer.next((f) => f.type === 'ack' && f.id === id, `the ack of ${id}`);
      } else {
        await writer.next((f) => f.type === 'ack', 'a first ack'); // then kill it mid-stream
        await kill(server);
        await Promise.all([writer.closed(), watcher.closed()]);
      }
      settle(writer);
      record(watcher);
      if (last) {
        const state = await serverState(server);
        expect(outbox.size).toBe(0);
        expect(acked.size).toBe(rounds * perRound);
        for (let i = 0; i < next; i++) expect(state.data[`op${i}`], `op${i}`).toBe(i);
        const saved = JSON.parse(readFileSync(file, 'utf8')) as { appliedOpIds: string[] };
        expect(new Set(saved.appliedOpIds)).toEqual(new Set([...acked]));
      }
    }
    expect(twice).toEqual([]);
  });
});
