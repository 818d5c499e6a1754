/**
 * Protocol version 2 end to end: the library's Node entry as the client (createChannelProtocol,
 * connection.channel), the reference server as a real `statesocket-server` process. Waits are on
 * events or bounded polls; no assertion is about wall time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/node.js';
import { channelClient, countingStore, createV2WithModel, stopV2Connections, until, waitForChannel } from './channels-support.js';
import { control, eventually, kill, killAll, startServerProcess, statesSince, stopAllConnections, syncClient, waitFor, type Controllable } from './server-process.js';

const dirs: string[] = [];
afterEach(async () => {
  stopV2Connections();
  stopAllConnections();
  await killAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-channels-'));
  dirs.push(dir);
  return dir;
}

interface ChannelState {
  ok: boolean;
  channel: string;
  epoch: string;
  seq: number;
  data: Record<string, unknown>;
  members: Array<{ client: string; user?: string }>;
  counters: Record<string, unknown>;
}

async function channelState(server: Controllable & { controlToken: string }, channel: string): Promise<ChannelState> {
  const response = await fetch(`http://127.0.0.1:${server.port}/control/state?channel=${encodeURIComponent(channel)}`, {
    headers: { authorization: `Bearer ${server.controlToken}` },
  });
  if (!response.ok) throw new Error(`GET /control/state?channel=${channel}: ${response.status}`);
  return (await response.json()) as ChannelState;
}

const live = (s: { live: boolean }) => s.live;

describe('channels against the reference server process', () => {
  it('carries ops and presence between two connections; a forbidden channel fails alone', async () => {
    const dir = tempDir();
    const acl = join(dir, 'acl.json');
    writeFileSync(
      acl,
      JSON.stringify({
        tokens: [
          { token: 't-ann', user: 'ann', info: { name: 'Ann' } },
          { token: 't-bob', user: 'bob' },
        ],
        channels: [
          { pattern: 'room/*', subscribe: ['*'], publish: ['*'], presence: ['*'] },
          { pattern: 'notes:*', subscribe: ['*'], publish: ['*'], presence: [] },
          { pattern: 'secret/*', subscribe: ['carol'], publish: ['carol'], presence: [] },
        ],
      }),
    );
    const server = await startServerProcess(['--acl', acl]);
    const ann = channelClient(server.url, { token: 't-ann', defaultChannel: false });
    const bob = channelClient(server.url, { token: 't-bob', defaultChannel: false });
    const annRoom = ann.channel('room/1', { presence: true });
    const annNotes = ann.channel('notes:team');
    const annSecret = ann.channel('secret/plans');
    const bobRoom = bob.channel('room/1', { presence: true });
    const bobNotes = bob.channel('notes:team');
    for (const channel of [annRoom, annNotes, bobRoom, bobNotes]) await waitForChannel(channel, live, `${channel.name} live`);

    const failed = await waitForChannel(annSecret, (s) => s.state === 'failed', 'the forbidden channel failed');
    expect(failed.lastError?.code).toBe('ERR_CHANNEL_FORBIDDEN');
    expect(() => annSecret.send({ set: { x: 1 } })).toThrow();
    // the others stay live, on the same connection
    expect(ann.getStatus().state).toBe('open');
    expect(annRoom.getStatus().live && annNotes.getStatus().live).toBe(true);

    await annRoom.send({ set: { topic: 'lunch' } });
    await bobNotes.send({ set: { todo: 'bread' }, delete: [] });
    await until(() => bobRoom.model.getData().topic === 'lunch', 'ann’s op on bob’s room', () => bobRoom.model.getData());
    await until(() => annNotes.model.getData().todo === 'bread', 'bob’s op on ann’s notes', () => annNotes.model.getData());
    // nothing crosses channels
    expect(bobNotes.model.getData().topic).toBeUndefined();
    expect(annRoom.model.getData().todo).toBeUndefined();

    const users = (channel: typeof annRoom) => (channel.presence?.getData() ?? []).map((member) => member.user).sort();
    await until(() => users(annRoom).length === 2 && users(bobRoom).length === 2, 'both members on both sides', () => [users(annRoom), users(bobRoom)]);
    expect(users(annRoom)).toEqual(['ann', 'bob']);
    expect(users(bobRoom)).toEqual(['ann', 'bob']);
    expect(annNotes.presence).toBeNull();

    const room = await channelState(server, 'room/1');
    expect(room.data).toEqual(annRoom.model.getData());
    expect(room.data).toEqual(bobRoom.model.getData());
    expect(room.members.map((member) => member.user).sort()).toEqual(['ann', 'bob']);
    expect(annSecret.getStatus().state).toBe('failed');
  });

  it('lets a version 1 client and a version 2 client share the default channel', async () => {
    const server = await startServerProcess();
    const v1 = syncClient(server.url);
    const v2 = channelClient(server.url);
    await waitFor(v1, (s) => s.state === 'open', 'v1 open');
    const v2Default = v2.channel('default');
    await waitForChannel(v2Default, live, 'v2 default live');
    expect(v2Default.model).toBe(v2.model);

    await v2Default.send({ set: { from: 'v2' } });
    await until(() => v1.model.getData().from === 'v2', 'the v2 op at the v1 client', () => v1.model.getData());
    await v1.send({ type: 'op', set: { also: 'v1' } });
    await until(() => v2.model.getData().also === 'v1', 'the v1 op at the v2 client', () => v2.model.getData());
    await control(server, 'change', { set: { server: true } });
    await until(() => v1.model.getData().server === true && v2.model.getData().server === true, 'the server change at both');

    const state = await channelState(server, 'default');
    expect((v1.model as Store).getData()).toEqual(state.data);
    expect(v2.model.getData()).toEqual(state.data);
    expect(v2.model.position()).toEqual({ epoch: state.epoch, seq: state.seq });
  });

  it('refreshes an expiring token without a reconnect, failing only the channel the new token no longer allows', async () => {
    const dir = tempDir();
    const acl = join(dir, 'acl.json');
    writeFileSync(
      acl,
      JSON.stringify({
        tokens: [
          // less than --refresh-before left at the welcome: the server asks for a fresh token at once
          { token: 't-old', user: 'ann', expiresAt: Date.now() + 600_000 },
          { token: 't-new', user: 'ann', expiresAt: Date.now() + 10 * 86_400_000, scope: ['room/*'] },
        ],
        channels: [
          { pattern: 'room/*', subscribe: ['*'], publish: ['*'], presence: ['*'] },
          { pattern: 'notes:*', subscribe: ['ann'], publish: ['ann'], presence: [] },
        ],
      }),
    );
    const server = await startServerProcess(['--acl', acl, '--refresh-before', '3600000']);
    const tokens: string[] = [];
    const ann = channelClient(server.url, {
      defaultChannel: false,
      token: () => {
        const token = tokens.length === 0 ? 't-old' : 't-new';
        tokens.push(token);
        return token;
      },
    });
    const room = ann.channel('room/1');
    const notes = ann.channel('notes:ann');
    await waitFor(ann, (s) => s.state === 'open', 'open');
    const mark = ann.history.length;
    const refused = await waitForChannel(notes, (s) => s.state === 'failed', 'notes refused after the refresh');
    expect(refused.lastError?.code).toBe('ERR_CHANNEL_FORBIDDEN');
    const state = await eventually(() => channelState(server, 'room/1'), (s) => s.counters.tokenRefreshes === 1, 'one token refresh');
    expect(state.counters.tokenExpiries).toBe(0);
    expect(tokens).toEqual(['t-old', 't-new']);
    await waitForChannel(room, live, 'room live');
    await room.send({ set: { after: 'refresh' } });
    expect(room.model.getData()).toEqual((await channelState(server, 'room/1')).data);
    // the same socket all along
    expect(statesSince(ann, mark)).not.toContain('connecting');
    expect(ann.getStatus().state).toBe('open');
  });

  it('keeps presence through a quick reconnect inside the grace period: no leave, no join', async () => {
    const server = await startServerProcess(['--presence-grace', '10000']);
    const a = channelClient(server.url, { clientId: 'a', defaultChannel: false });
    const b = channelClient(server.url, { clientId: 'b', defaultChannel: false });
    const roomA = a.channel('room/1', { presence: true });
    const roomB = b.channel('room/1', { presence: true });
    const clients = (channel: typeof roomA) => (channel.presence?.getData() ?? []).map((member) => member.client).sort().join();
    await until(() => clients(roomA) === 'a,b' && clients(roomB) === 'a,b', 'both members at both', () => [clients(roomA), clients(roomB)]);
    const before = await channelState(server, 'room/1');
    const joinedAt = roomA.presence!.getData().map((member) => member.joinedAt);

    const mark = a.history.length;
    expect((await control(server, 'drop')).ok).toBe(true);
    await waitFor(a, () => statesSince(a, mark).includes('connecting') && a.getStatus().state === 'open', 'a reconnected');
    await waitFor(b, () => b.getStatus().state === 'open', 'b open');
    await waitForChannel(roomA, live, 'a live again');
    await waitForChannel(roomB, live, 'b live again');
    expect(clients(roomA)).toBe('a,b');
    expect(clients(roomB)).toBe('a,b');
    expect(roomA.presence!.getData().map((member) => member.joinedAt)).toEqual(joinedAt);
    const after = await channelState(server, 'room/1');
    expect(after.counters.presenceJoins).toBe(before.counters.presenceJoins);
    expect(after.counters.presenceLeaves).toBe(before.counters.presenceLeaves);
    expect(after.members).toEqual(before.members);
  });

  it('refuses an op the user may not publish, keeps the channel live, and serves its past changes', async () => {
    const dir = tempDir();
    const acl = join(dir, 'acl.json');
    writeFileSync(
      acl,
      JSON.stringify({
        tokens: [
          { token: 't-ann', user: 'ann' },
          { token: 't-bob', user: 'bob' },
        ],
        channels: [{ pattern: 'public/*', subscribe: ['*'], publish: ['ann'], presence: [] }],
      }),
    );
    const server = await startServerProcess(['--acl', acl]);
    const ann = channelClient(server.url, { token: 't-ann', defaultChannel: false });
    const bob = channelClient(server.url, { token: 't-bob', defaultChannel: false });
    const annNews = ann.channel('public/news');
    const bobNews = bob.channel('public/news');
    await waitForChannel(annNews, live, 'ann live');
    await waitForChannel(bobNews, live, 'bob live');

    await expect(bobNews.send({ set: { headline: 'bob was here' } })).rejects.toMatchObject({ code: 'ERR_PUBLISH_FORBIDDEN' });
    expect(bobNews.getStatus().live).toBe(true);
    for (const headline of ['one', 'two', 'three']) await annNews.send({ set: { headline } });
    await until(() => bobNews.model.getData().headline === 'three', 'ann’s ops at bob', () => bobNews.model.getData());
    expect(bobNews.model.getData()).toEqual({ headline: 'three' });

    const page = await bobNews.changes({ since: 0 });
    expect(page.patches.map((patch) => (patch as { set?: { headline?: string } }).set?.headline)).toEqual(['one', 'two', 'three']);
    expect(page.more).toBe(false);
    const state = await channelState(server, 'public/news');
    expect(page.epoch).toBe(state.epoch);
    expect(state.data).toEqual({ headline: 'three' });
  });

  it('keeps a version 1 and a version 2 client on the default channel exactly once through a drop and a SIGKILL', async () => {
    const dataFile = join(tempDir(), 'data.json');
    let server = await startServerProcess(['--data-file', dataFile]);
    const v1Model = countingStore();
    const v2Model = countingStore();
    const v1 = syncClient(server.url, { model: v1Model });
    const v2 = createV2WithModel(server.url, v2Model);
    await waitFor(v1, (s) => s.state === 'open', 'v1 open');
    await waitForChannel(v2.channel('default'), live, 'v2 live');
    const sends: Array<Promise<void>> = [];
    const expected: Record<string, unknown> = {};
    for (const [round, fault] of (['drop', 'sigkill'] as const).entries()) {
      for (let i = 0; i < 5; i++) {
        expected[`v1.${round}.${i}`] = i;
        expected[`v2.${round}.${i}`] = i;
        // a version 1 send answers nothing: its ack is the key showing up in the server's data below
        v1.send({ type: 'op', set: { [`v1.${round}.${i}`]: i } });
        sends.push(v2.channel('default').send({ set: { [`v2.${round}.${i}`]: i } }));
      }
      if (fault === 'drop') expect((await control(server, 'drop')).ok).toBe(true);
      else {
        await kill(server);
        server = await startServerProcess(['--data-file', dataFile], server.port);
      }
      await Promise.all(sends);
    }
    const state = await eventually(() => channelState(server, 'default'), (s) => Object.keys(s.data).length === Object.keys(expected).length, 'every op in the server’s data');
    expect(state.data).toEqual(expected);
    await until(() => v1.getStatus().outboxSize === 0, 'the v1 outbox empty', () => v1.getStatus());
    await until(
      () => JSON.stringify(v1Model.position()) === JSON.stringify({ epoch: state.epoch, seq: state.seq }) && JSON.stringify(v2Model.position()) === JSON.stringify({ epoch: state.epoch, seq: state.seq }),
      'both at the server’s position',
      () => [v1Model.position(), v2Model.position(), state.epoch, state.seq],
    );
    expect(v1Model.getData()).toEqual(state.data);
    expect(v2Model.getData()).toEqual(state.data);
    for (const model of [v1Model, v2Model]) {
      // the first subscribe and the new epoch after the kill; the drop resumed by replay
      expect(model.snapshots).toBe(2);
      expect([...model.setsOf].filter(([, count]) => count > 1)).toEqual([]);
    }
  });
});
