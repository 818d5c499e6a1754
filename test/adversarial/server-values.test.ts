/**
 * Hostile values against the reference server as a real process (scripts/server.ts)
 * and the real client, on 127.0.0.1: poison ops, the values the two sides
 * used to disagree on, the transient/final rule and the document size limit.
 * After every attack a healthy client still gets a snapshot equal to
 * /control/state. Small sizes; waits are on frames and bounded polls.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createOp } from '../../src/sync/client-protocol.js';
import '../support/cleanup.js';
import { control, killAll, serverState, startServerProcess, stopAllConnections, syncClient, waitFor, type ServerProcess } from '../integration/server-process.js';
import { greetedClient, rawClient } from './raw-client.js';

afterEach(async () => {
  stopAllConnections();
  await killAll();
});

/** A new library client opens and its data equals /control/state's. */
async function expectHealthy(server: ServerProcess): Promise<void> {
  const client = syncClient(server.url);
  await waitFor(client, (s) => s.state === 'open', 'a healthy client to open');
  const state = await serverState(server);
  await waitFor(client, () => JSON.stringify(client.model.getData()) === JSON.stringify(state.data), 'the snapshot');
  expect(client.model.getData()).toEqual(state.data);
  client.stop();
}

const deep = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

describe('poison values against the server process', () => {
  it('refuses deep, infinite and __proto__ values with ERR_INVALID_FRAME and stays healthy', async () => {
    const server = await startServerProcess(['--no-app']);
    const { client } = await greetedClient(server.url);
    const attacks: Array<[string, string, RegExp]> = [
      ['deep-5000', deep(5_000), /nests deeper than maxValueDepth \(64/],
      ['deep-100000', deep(100_000), /nests deeper than maxValueDepth/],
      ['infinite', '1e400', /numbers must be finite/],
      ['proto', '{"__proto__":{"polluted":true}}', /"__proto__" is not allowed/],
    ];
    for (const [id, value, problem] of attacks) {
      const from = client.frames.length;
      client.send(`{"type":"op","id":"${id}","set":{"k":${value}}}`);
      const answer = await client.next((f) => f.type === 'error' || f.type === 'ack', `the answer to ${id}`, from);
      expect(answer).toMatchObject({ type: 'error', code: 'ERR_INVALID_FRAME', id, message: expect.stringMatching(problem) });
    }
    // A top-level "__proto__" key is refused too, and the control route gives the op's message.
    const from = client.frames.length;
    client.send('{"type":"op","id":"top-proto","set":{"__proto__":1}}');
    const refusal = await client.next((f) => f.type === 'error', 'the refusal', from);
    const response = await control(server, 'change', JSON.parse('{"set":{"__proto__":1}}'));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe(`ERR_INVALID_FRAME: ${refusal.message as string}`);
    expect((await control(server, 'change', { set: {} })).status).toBe(400);

    const state = await serverState(server);
    expect(state.seq).toBe(0);
    expect(state.data).toEqual({});
    expect((await control(server, 'restart')).status).toBe(200);
    await expectHealthy(server);
  });

  it('answers an op sent before the hello without its id; the library client gets it applied once', async () => {
    const server = await startServerProcess(['--no-app']);
    const early = await rawClient(server.url);
    early.send({ type: 'op', id: 'early', set: { a: 1 } });
    const error = await early.next((f) => f.type === 'error', 'the error');
    expect(error).toEqual({ type: 'error', code: 'ERR_HELLO_REQUIRED', message: expect.any(String) });
    early.send({ type: 'hello', v: 1 });
    early.send({ type: 'op', id: 'early', set: { a: 1 } });
    await early.next((f) => f.type === 'ack', 'the ack');

    const client = syncClient(server.url);
    // an op with no key breaks the value rule, which the client applies itself; one over --max-op-bytes (256 KiB) only the server knows
    expect(() => client.send(createOp({ set: {} }, 'empty'))).toThrow(/the change has no key in set or delete/);
    client.send(createOp({ set: { big: 'x'.repeat(300_000) } }, 'corrected'));
    await waitFor(client, (s) => s.lastRejected !== null, 'the refusal of an op over maxOpBytes');
    expect(client.getStatus()).toMatchObject({ outboxSize: 0, lastRejected: { code: 'ERR_SERVER_REJECTED', message: expect.stringMatching(/ERR_INVALID_FRAME/) } });
    // A resend of the refused id, corrected, gets the same refusal.
    const { client: raw } = await greetedClient(server.url);
    raw.send({ type: 'op', id: 'corrected', set: { fixed: true } });
    expect(await raw.next((f) => f.type === 'error' || f.type === 'ack', 'the answer')).toMatchObject({ type: 'error', id: 'corrected' });
    const state = await serverState(server);
    expect(state.data).toEqual({ a: 1 });
    expect(state.counters.opsApplied).toBe(1);
  });

  it('refuses the op that would pass --max-data-bytes, and a new client still gets the whole document', async () => {
    const server = await startServerProcess(['--no-app']);
    const writer = syncClient(server.url);
    await waitFor(writer, (s) => s.state === 'open', 'open');
    const pad = 'x'.repeat(200_000);
    for (let i = 0; i < 6; i++) writer.send(createOp({ set: { [`big${i}`]: pad } }, `big-${i}`));
    await waitFor(writer, (s) => s.outboxSize === 0, 'every op settled');
    expect(writer.getStatus().lastRejected).toEqual({ code: 'ERR_SERVER_REJECTED', message: expect.stringMatching(/^ERR_DATA_LIMIT: .*over maxDataBytes \(1047552\)/) });
    const state = await serverState(server);
    expect(Object.keys(state.data).sort()).toEqual(['big0', 'big1', 'big2', 'big3', 'big4']);
    expect(state.counters.slowConsumers).toBe(0);
    await expectHealthy(server);
    expect((await serverState(server)).counters.slowConsumers).toBe(0);
  });
});
