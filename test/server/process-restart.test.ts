/**
 * The `statesocket-server` process with `--data-file`, killed with SIGKILL and started again on
 * the same port: a version 2 client (raw frames over `ws`) with ops on several channels finds
 * every acked op's change, its marks (`synced.mark`), a new epoch per channel with the data kept,
 * and its resends acknowledged, never applied twice; a version 1 client's data on `default` too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { kill, killAll, serverState, startServerProcess, type ServerProcess } from '../integration/server-process.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';

afterEach(killAll);

type Frame = Record<string, unknown>;

async function v2(url: string, id: string) {
  const ws = new WebSocket(url);
  onCleanup(() => ws.terminate());
  const frames: Frame[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (data: Buffer) => {
    frames.push(JSON.parse(data.toString('utf8')) as Frame);
    wake?.();
  });
  ws.on('error', () => {});
  await withTimeout(new Promise((resolve) => ws.once('open', resolve)), 'open');
  const next = async (): Promise<Frame> => {
    while (frames.length === 0) await withTimeout(new Promise<void>((resolve) => (wake = resolve)), 'a frame');
    return frames.shift() as Frame;
  };
  /** The next frame of `type`, skipping others (patches of other channels, say). */
  const nextOf = async (type: string, channel?: string): Promise<Frame> => {
    for (;;) {
      const frame = await next();
      if (frame.type === type && (channel === undefined || frame.channel === channel)) return frame;
    }
  };
  const send = (frame: unknown) => ws.send(JSON.stringify(frame));
  send({ type: 'hello', v: 2, client: id });
  const welcome = await next();
  return { ws, send, next, nextOf, welcome };
}

const CHANNELS = ['notes', 'room/1', 'room/2', 'prices', 'default'];

describe('SIGKILL and restart with --data-file', () => {
  it('keeps every acked op of every channel once, the marks, and gives each channel a new epoch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'statesocket-kill-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const dataFile = join(dir, 'data.json');
    const args = ['--no-app', '--data-file', dataFile];
    let server: ServerProcess = await startServerProcess(args);

    const a = await v2(server.url, 'a1');
    const epochs = new Map<string, unknown>();
    for (const channel of CHANNELS) {
      a.send({ type: 'subscribe', channel });
      epochs.set(channel, (await a.nextOf('synced', channel)).epoch);
    }
    for (const channel of CHANNELS) for (let n = 1; n <= 5; n++) a.send({ type: 'op', channel, n, set: { [`k${n}`]: n } });
    for (const channel of CHANNELS) for (let n = 1; n <= 5; n++) expect(await a.nextOf('ack', channel)).toEqual({ type: 'ack', channel, n });
    const time = a.welcome.time;

    await kill(server);
    server = await startServerProcess(args, server.port);

    const b = await v2(server.url, 'a1');
    for (const channel of CHANNELS) {
      b.send({ type: 'subscribe', channel, epoch: epochs.get(channel), since: 5, acked: 0 });
      const snapshot = await b.next();
      expect(snapshot).toMatchObject({ type: 'snapshot', channel, seq: 0, data: { k1: 1, k2: 2, k3: 3, k4: 4, k5: 5 } });
      expect(snapshot.epoch).not.toBe(epochs.get(channel));
      expect(await b.next()).toMatchObject({ type: 'synced', channel, mark: 5 });
    }
    for (const channel of CHANNELS) for (let n = 1; n <= 5; n++) b.send({ type: 'op', channel, n, re: time, set: { [`k${n}`]: -n } });
    for (const channel of CHANNELS) for (let n = 1; n <= 5; n++) expect(await b.next()).toEqual({ type: 'ack', channel, n });
    const state = await serverState(server);
    expect(state.data).toEqual({ k1: 1, k2: 2, k3: 3, k4: 4, k5: 5 });
    expect(state.counters.opsApplied).toBe(0);
    expect(state.counters.opsDuplicate).toBe(25);
  });
});
