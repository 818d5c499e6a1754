/**
 * The reference server as a real process, the library as a real client, real
 * sockets on 127.0.0.1. Waits are on events (or bounded polls of the server's
 * state); no assertion is about wall time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isStatesocketError } from '../../src/errors.js';
import { createOp } from '../../src/sync/client-protocol.js';
import type { Store } from '../../src/store.js';
import {
  control,
  eventually,
  kill,
  killAll,
  serverState,
  startServerProcess,
  statesSince,
  stopAllConnections,
  syncClient,
  waitFor,
} from './server-process.js';

const dirs: string[] = [];
afterEach(async () => {
  stopAllConnections();
  await killAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const isOpen = (s: { state: string }) => s.state === 'open';

describe('against the reference server process', () => {
  it('reconnects after SIGKILL and a restart on the same port, and ends equal to the server', async () => {
    const first = await startServerProcess(['--feed-rate', '50']);
    const client = syncClient(first.url);
    await waitFor(client, isOpen, 'open');
    await kill(first);
    const errored = await waitFor(client, (s) => s.state === 'errored', 'errored');
    // The kernel ends a killed process's socket with a FIN (ws: close 1006) or, when it had unread bytes, with a
    // RST: ws then reports the reset as an error before its close, and the error is what the attempt failed on.
    if (errored.lastError?.code === 'ERR_SOCKET') expect(errored.lastError.message).toEqual(expect.any(String)); // read ECONNRESET
    else expect(errored.lastError).toMatchObject({ code: 'ERR_ABNORMAL_CLOSE', closeCode: 1006 });
    const mark = client.history.length;
    const second = await startServerProcess([], first.port);
    await waitFor(client, isOpen, 'open again');
    expect(statesSince(client, mark - 1).slice(-3)).toEqual(['errored', 'connecting', 'open']);
    await control(second, 'change', { set: { marker: 'after-restart' } });
    await waitFor(client, () => client.model.getData().marker === 'after-restart', 'the marker');
    const state = await serverState(second);
    expect(client.model.getData()).toEqual(state.data);
    expect(client.model.position()).toEqual({ epoch: state.epoch, seq: state.seq });
  });

  it('runs a user Model of only update() and getData() through a drop and a replay', async () => {
    const server = await startServerProcess();
    await control(server, 'change', { set: { before: 1 } });
    // no position(), no forgetPosition(): the protocol keeps the position itself
    let data: Record<string, unknown> = {};
    const seen: string[] = [];
    const model = {
      update(message: unknown) {
        const m = message as { type: string; data?: Record<string, unknown>; set?: Record<string, unknown>; delete?: string[] };
        seen.push(m.type);
        if (m.type === 'snapshot') data = { ...m.data };
        else if (m.type === 'patch') {
          data = { ...data };
          for (const key of m.delete ?? []) delete data[key];
          Object.assign(data, m.set);
        }
      },
      getData: () => data,
    };
    const client = syncClient(server.url, { model });
    await waitFor(client, isOpen, 'open');
    await control(server, 'change', { set: { during: 2 } });
    await waitFor(client, () => data.during === 2, 'the first patch');
    await control(server, 'drop');
    await waitFor(client, (s) => s.state === 'errored', 'errored after the drop');
    await control(server, 'change', { set: { missed: 3 } });
    await control(server, 'change', { delete: ['before'] });
    await waitFor(client, isOpen, 'open again');
    await waitFor(client, () => data.missed === 3 && !('before' in data), 'the replayed patches');
    const state = await serverState(server);
    expect(data).toEqual(state.data);
    expect(seen).toEqual(['snapshot', 'patch', 'patch', 'patch']);
    expect(state.counters).toMatchObject({ snapshotsSent: 1, replays: 1 });
    expect(client.getStatus()).toMatchObject({ state: 'open', lastError: { code: 'ERR_ABNORMAL_CLOSE', closeCode: 1006 } });
  });

  it('records ERR_HEARTBEAT_TIMEOUT on a stall and recovers', async () => {
    const server = await startServerProcess();
    const client = syncClient(server.url, { heartbeat: { intervalMs: 300, timeoutMs: 300 } });
    await waitFor(client, isOpen, 'open');
    const response = await control(server, 'stall?ms=3000');
    expect(response.status).toBe(200);
    const errored = await waitFor(client, (s) => s.state === 'errored', 'errored');
    expect(errored.lastError?.code).toBe('ERR_HEARTBEAT_TIMEOUT');
    await waitFor(client, isOpen, 'open after the stall');
  });

  it('applies ops sent while the server is down exactly once after it comes back', async () => {
    const first = await startServerProcess(['--data-file', dataFile()]);
    const client = syncClient(first.url);
    await waitFor(client, isOpen, 'open');
    await kill(first);
    await waitFor(client, (s) => s.state === 'errored', 'errored');
    for (let i = 0; i < 20; i++) client.send(createOp({ set: { [`offline-${i}`]: i } }, `offline-op-${i}`));
    expect(client.getStatus().outboxSize).toBe(20);
    const second = await startServerProcess(['--data-file', dataFile(0)], first.port);
    await waitFor(client, (s) => s.state === 'open' && s.outboxSize === 0, 'open with an empty outbox');
    const state = await serverState(second);
    expect(state.counters.opsApplied).toBe(20);
    for (let i = 0; i < 20; i++) expect(state.data[`offline-${i}`]).toBe(i);
    expect(client.model.getData()).toEqual(state.data);
  });

  it('stays closed after close 4401 and after a wrong token', async () => {
    const server = await startServerProcess(['--token', 'right']);
    const client = syncClient(`${server.url}?token=right`);
    await waitFor(client, isOpen, 'open');
    await control(server, 'close?code=4401&reason=revoked');
    const closed = await waitFor(client, (s) => s.state === 'closed', 'closed');
    expect(closed.lastError).toMatchObject({ code: 'ERR_FATAL_CLOSE', closeCode: 4401 });
    expect(closed.nextRetryAt).toBeNull();

    const wrong = syncClient(`${server.url}?token=wrong`);
    const refused = await waitFor(wrong, (s) => s.state === 'closed', 'closed');
    expect(refused.lastError).toMatchObject({ code: 'ERR_FATAL_CLOSE', closeCode: 4401 });
    expect(wrong.getStatus().counters.reconnects).toBe(0);
  });

  it('retries after 1012 no sooner than serviceRestartDelayMs, and after a close without a code', async () => {
    const server = await startServerProcess();
    const client = syncClient(server.url);
    await waitFor(client, isOpen, 'open');
    await control(server, 'close?code=1012&reason=deploy');
    const errored = await waitFor(client, (s) => s.state === 'errored', 'errored');
    expect(errored.lastError?.closeCode).toBe(1012);
    expect(errored.nextDelayMs).toBeGreaterThanOrEqual(400);
    await waitFor(client, isOpen, 'open after 1012');

    await control(server, 'close?code=none');
    const again = await waitFor(client, (s) => s.state === 'errored', 'errored after a close without a code');
    expect(again.lastError?.closeCode).toBe(1005);
    await waitFor(client, isOpen, 'open after 1005');
  });

  it('rejects garbage and oversized frames and keeps the model (an oversized frame costs the Node client its connection: ws closes with 1009)', async () => {
    const server = await startServerProcess();
    const client = syncClient(server.url, { maxMessageBytes: 10_000 });
    await waitFor(client, isOpen, 'open');
    await control(server, 'change', { set: { keep: 1 } });
    await waitFor(client, () => client.model.getData().keep === 1, 'the key');
    const before = client.model.getData();
    await control(server, 'garbage');
    await waitFor(client, (s) => s.counters.rejected === 1, 'one rejection');
    await control(server, 'oversized?bytes=20000');
    const status = await waitFor(client, (s) => s.counters.rejected === 2, 'two rejections');
    expect(status.lastRejected?.code).toBe('ERR_PAYLOAD_TOO_LARGE');
    // refused from its header, unread: ws cannot skip the rest of the frame, so the client reconnects and resumes
    await waitFor(client, (s) => isOpen(s) && s.counters.reconnects === 1, 'open again');
    expect(client.model.getData()).toEqual(before);

    let caught: unknown;
    try {
      client.send(createOp({ set: { big: 'x'.repeat(20_000) } }));
    } catch (error) {
      caught = error;
    }
    expect(isStatesocketError(caught, 'ERR_PAYLOAD_TOO_LARGE')).toBe(true);
    expect(client.getStatus().outboxSize).toBe(0);
  });

  it('adopts the new epoch after SIGKILL without a data file, leaving no stale keys', async () => {
    const first = await startServerProcess();
    const client = syncClient(first.url);
    await waitFor(client, isOpen, 'open');
    await control(first, 'change', { set: { stale: true } });
    await waitFor(client, () => client.model.getData().stale === true, 'the stale key');
    await kill(first);
    const second = await startServerProcess([], first.port);
    await control(second, 'change', { set: { fresh: true } });
    await waitFor(client, () => client.model.getData().fresh === true, 'the fresh key');
    expect(client.model.getData()).toEqual((await serverState(second)).data);
    expect(client.model.getData().stale).toBeUndefined();
  });

  it('keeps the data and every acked op across SIGKILL with --data-file', async () => {
    const file = dataFile();
    const first = await startServerProcess(['--data-file', file]);
    const client = syncClient(first.url);
    await waitFor(client, isOpen, 'open');
    for (let i = 0; i < 10; i++) client.send(createOp({ set: { [`k${i}`]: i } }, `kept-${i}`));
    await waitFor(client, (s) => s.outboxSize === 0, 'every ack');
    await kill(first);
    const second = await startServerProcess(['--data-file', file], first.port);
    const state = await serverState(second);
    for (let i = 0; i < 10; i++) expect(state.data[`k${i}`]).toBe(i);
    // the dedup record survived too: re-sending an acked op does not apply it again
    await waitFor(client, isOpen, 'open');
    client.send(createOp({ set: { k0: 'again' } }, 'kept-0'));
    await waitFor(client, (s) => s.outboxSize === 0, 'the duplicate ack');
    expect((await serverState(second)).data.k0).toBe(0);
    expect(client.model.getData()).toEqual((await serverState(second)).data);
  });

  it('survives a bounded chaos run: model equals the server and every op applied once', async () => {
    const server = await startServerProcess(['--feed-rate', '500', '--heartbeat', '1000']);
    const client = syncClient(server.url, { heartbeat: { intervalMs: 500, timeoutMs: 500 } });
    const errors: unknown[] = [];
    const onError = (error: unknown) => errors.push(error);
    process.on('uncaughtException', onError);
    process.on('unhandledRejection', onError);
    try {
      await waitFor(client, isOpen, 'open');
      const faults = ['drop', 'stall?ms=1500', 'restart', 'close?code=1011', 'close?code=1001', 'garbage'];
      let sent = 0;
      const until = Date.now() + Number(process.env.CHAOS_MS ?? 10_000);
      for (let round = 0; Date.now() < until && round < 200; round++) {
        for (let i = 0; i < 5; i++) client.send(createOp({ set: { [`chaos-${sent}`]: sent } }, `chaos-${sent++}`));
        if (round % 3 === 0) await control(server, faults[round % faults.length] as string);
        await new Promise((resolve) => setTimeout(resolve, 150 + (round % 7) * 40));
      }
      await waitFor(client, (s) => s.state === 'open' && s.outboxSize === 0, 'settled', 30_000);
      await control(server, 'change', { set: { final: true } });
      const state = await eventually(
        () => serverState(server),
        (s) => s.data.final === true,
        'the final change',
      );
      await waitFor(client, () => client.model.position()?.seq === state.seq, 'the final seq', 30_000);
      // the feed keeps changing the server; compare at the same position
      const snapshotAtFinal = client.model.getData();
      expect(snapshotAtFinal).toEqual(state.data);
      expect(state.counters.opsApplied).toBe(sent);
      for (let i = 0; i < sent; i++) expect(snapshotAtFinal[`chaos-${i}`]).toBe(i);
      expect(client.getStatus().counters.reconnects).toBeGreaterThan(0);
      expect(errors).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    }
  }, 120_000);
});

function dataFile(existing?: number): string {
  if (existing !== undefined) return join(dirs[dirs.length - 1 - existing] as string, 'data.json');
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-'));
  dirs.push(dir);
  return join(dir, 'data.json');
}
