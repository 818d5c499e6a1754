/**
 * Channels through the Node server (`startSyncServer`, real `ws` on 127.0.0.1): the control
 * routes per channel (`?channel=`), the feed's channel, and the data file keeping every
 * channel's data and marks (and loading a version 1 file as the `default` channel; refusing a
 * file whose channels are garbage).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { DataFileError, loadDataFile } from '../../src/server/data-file.js';
import { startSyncServer, type RunningServer } from '../../src/server/start.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-channels-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(options: Parameters<typeof startSyncServer>[0] = {}): Promise<RunningServer> {
  const server = await startSyncServer({ port: 0, host: '127.0.0.1', control: true, ...options });
  onCleanup(() => server.close());
  return server;
}

async function control(server: RunningServer, path: string, init: { method?: string; body?: unknown } = {}) {
  const response = await fetch(`http://127.0.0.1:${server.port}/control/${path}`, {
    method: init.method ?? 'POST',
    headers: { authorization: `Bearer ${server.controlToken}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A version 2 client: frames in order, awaited one at a time. */
async function v2(server: RunningServer, id: string) {
  const ws = new WebSocket(server.url);
  onCleanup(() => ws.terminate());
  const frames: Array<Record<string, unknown>> = [];
  let wake: (() => void) | undefined;
  ws.on('message', (data: Buffer) => {
    frames.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
    wake?.();
  });
  await withTimeout(new Promise((resolve) => ws.once('open', resolve)), 'open');
  const next = async (): Promise<Record<string, unknown>> => {
    while (frames.length === 0) await withTimeout(new Promise<void>((resolve) => (wake = resolve)), 'a frame');
    return frames.shift() as Record<string, unknown>;
  };
  const send = (frame: unknown) => ws.send(JSON.stringify(frame));
  send({ type: 'hello', v: 2, client: id });
  expect(await next()).toMatchObject({ type: 'welcome' });
  return { ws, send, next };
}

describe('control routes per channel', () => {
  it('changes and reports the channel named by ?channel=, with its members', async () => {
    const server = await serve();
    const a = await v2(server, 'a1');
    a.send({ type: 'subscribe', channel: 'room/42', presence: true });
    expect((await a.next()).type).toBe('snapshot');
    expect((await a.next()).type).toBe('synced');
    expect((await a.next()).type).toBe('presence');
    const changed = await control(server, 'change?channel=room/42', { body: { set: { x: 1 } } });
    expect(changed).toMatchObject({ status: 200, body: { ok: true, channel: 'room/42', seq: 1 } });
    expect(await a.next()).toMatchObject({ type: 'patch', channel: 'room/42', seq: 1, set: { x: 1 } });
    const state = await control(server, 'state?channel=room/42', { method: 'GET' });
    expect(state.body).toMatchObject({ ok: true, channel: 'room/42', seq: 1, data: { x: 1 }, members: [{ client: 'a1', user: null }] });
    expect(state.body.counters).toMatchObject({ channels: 1, subscriptions: 1, presenceJoins: 1 });
    const plain = await control(server, 'state', { method: 'GET' });
    expect(plain.body).toMatchObject({ channel: 'default', seq: 0, data: {}, members: [] });
  });

  it.each(['bad name', '__proto__', 'x'.repeat(129)])('answers 400 for the channel %j, changing nothing', async (name) => {
    const server = await serve();
    const changed = await control(server, `change?channel=${encodeURIComponent(name)}`, { body: { set: { x: 1 } } });
    expect(changed.status).toBe(400);
    expect(String(changed.body.error)).toMatch(/channel must be a channel name/);
    expect((await control(server, `state?channel=${encodeURIComponent(name)}`, { method: 'GET' })).status).toBe(400);
    expect(server.core.channelNames()).toEqual(['default']);
  });
});

describe('chunks over a real socket', () => {
  it('sends a 1 MB snapshot to a client of maxMessageBytes 4096 as the socket drains, within the limit and exact', async () => {
    const server = await serve();
    for (let i = 0; i < 4; i++) server.change({ set: { [`a${i}`]: 'a'.repeat(200_000), [`b${i}`]: 'é'.repeat(25_000) } }, 'big');
    const ws = new WebSocket(server.url);
    onCleanup(() => ws.terminate());
    const texts: string[] = [];
    let wake: (() => void) | undefined;
    ws.on('message', (data: Buffer) => {
      texts.push(data.toString('utf8'));
      wake?.();
    });
    await withTimeout(new Promise((resolve) => ws.once('open', resolve)), 'open');
    ws.send(JSON.stringify({ type: 'hello', v: 2, client: 'a1', maxMessageBytes: 4096 }));
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'big' }));
    const synced = () => texts.some((t) => t.startsWith('{"type":"synced","channel":"big"'));
    while (!synced()) await withTimeout(new Promise<void>((resolve) => (wake = resolve)), 'the big channel synced');
    const frames = texts.map((t) => JSON.parse(t) as Record<string, unknown>);
    for (const text of texts) expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
    const pieces = frames.filter((f) => f.type === 'chunk');
    const joined = JSON.parse(pieces.map((p) => p.data as string).join('')) as Record<string, unknown>;
    expect(joined).toMatchObject({ type: 'snapshot', channel: 'big', seq: 4 });
    expect(joined.data).toEqual(server.core.channelState('big').data);
    expect(server.stats()).toMatchObject({ chunkedFrames: 1, slowConsumers: 0 });
  });
});

describe('the feed', () => {
  it('changes the channel named by feedChannel', async () => {
    const server = await serve({ feedRatePerSec: 200, feedChannel: 'prices' });
    const a = await v2(server, 'a1');
    a.send({ type: 'subscribe', channel: 'prices' });
    for (let frame = await a.next(); frame.type !== 'patch'; frame = await a.next()) expect(frame.channel).toBe('prices');
    expect(server.core.data()).toEqual({});
  });

  it('refuses a feedChannel that is not a channel name', async () => {
    await expect(startSyncServer({ port: 0, feedChannel: 'a b' })).rejects.toThrow(/feedChannel must be a channel name/);
  });
});

describe('the data file', () => {
  it('keeps every channel and the marks across a restart: a resent op is acked, not applied again', async () => {
    const dataFile = join(tempDir(), 'data.json');
    const first = await serve({ dataFile });
    const a = await v2(first, 'a1');
    a.send({ type: 'subscribe', channel: 'notes' });
    await a.next();
    await a.next();
    a.send({ type: 'op', channel: 'notes', n: 1, set: { title: 'x' } });
    expect(await a.next()).toMatchObject({ type: 'patch' });
    expect(await a.next()).toMatchObject({ type: 'ack', n: 1 });
    await first.close();
    expect(loadDataFile(dataFile)?.channels?.notes).toMatchObject({ data: { title: 'x' }, marks: [{ client: 'a1', user: null, n: 1 }] });

    const second = await serve({ dataFile });
    const b = await v2(second, 'a1');
    b.send({ type: 'subscribe', channel: 'notes' });
    expect(await b.next()).toMatchObject({ type: 'snapshot', seq: 0, data: { title: 'x' } });
    expect(await b.next()).toMatchObject({ type: 'synced', mark: 1 });
    b.send({ type: 'op', channel: 'notes', n: 1, re: 0, set: { title: 'y' } });
    expect(await b.next()).toEqual({ type: 'ack', channel: 'notes', n: 1 });
    expect(second.core.channelState('notes').data).toEqual({ title: 'x' });
  });

  it('loads a version 1 data file as the default channel', async () => {
    const dataFile = join(tempDir(), 'data.json');
    writeFileSync(dataFile, JSON.stringify({ data: { old: true }, appliedOpIds: ['o1'] }));
    const server = await serve({ dataFile });
    const a = await v2(server, 'a1');
    a.send({ type: 'subscribe', channel: 'default' });
    expect(await a.next()).toMatchObject({ type: 'snapshot', channel: 'default', data: { old: true } });
  });

  it.each([
    ['channels that are an array', { channels: [] }, /"channels" is not an object/],
    ['a channel name that breaks the rule', { channels: { 'a b': { data: {} } } }, /not a channel name/],
    ['a mark without a client', { channels: { c: { data: {}, marks: [{ user: null, n: 1, at: 0, owner: 'x' }] } } }, /"channels"\."c"\.marks\[0\] is not a mark/],
    ['a horizon that is text', { channels: { c: { horizon: 'soon' } } }, /horizon is not a time/],
    ['a time that is text', { time: 'now' }, /"time" is not a number/],
  ])('refuses a data file with %s, naming it', (_what, extra, message) => {
    const dataFile = join(tempDir(), 'data.json');
    writeFileSync(dataFile, JSON.stringify({ data: {}, appliedOpIds: [], ...extra }));
    expect(() => loadDataFile(dataFile)).toThrow(DataFileError);
    expect(() => loadDataFile(dataFile)).toThrow(message);
  });

  it('refuses a channel whose stored data is over maxDataBytes, naming the channel', async () => {
    const dataFile = join(tempDir(), 'data.json');
    writeFileSync(dataFile, JSON.stringify({ data: {}, appliedOpIds: [], channels: { big: { data: { x: 'y'.repeat(200) } } } }));
    await expect(startSyncServer({ port: 0, dataFile, maxDataBytes: 100 })).rejects.toThrow(/in channel big/);
  });
});
