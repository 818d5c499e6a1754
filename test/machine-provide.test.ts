/**
 * Running the chart yourself: `createActor(connectionMachine.provide(...))`
 * with effects you supply, as docs/machine.md shows. Only the public entries
 * are used: the chart from `statesocket`, the fake socket and clock from
 * `statesocket/testing`.
 */
import { describe, expect, it } from 'vitest';
import { assign, createActor } from 'xstate';
import { connectionMachine, type ConnectionConfig } from '../src/index.js';
import { TestClock, createFakeSockets } from '../src/testing/index.js';

const config: ConnectionConfig = {
  connectTimeoutMs: 5_000,
  closeTimeoutMs: 1_000,
  reconnect: {
    enabled: true,
    initialDelayMs: 500,
    maxDelayMs: 10_000,
    factor: 2,
    maxAttempts: 3,
    stableAfterMs: 5_000,
    serviceRestartDelayMs: 5_000,
  },
  heartbeat: null,
  outbox: { limit: 100, overflow: 'drop-oldest' },
  maxBufferedBytes: 1 << 20,
  maxMessageBytes: 1 << 20,
  closeOnOffline: true,
  drainCheckMs: 100,
};

/** A chart run by hand: a socket the chart's actions open, write, close and release, a Model, a View, a clock. */
function runByHand() {
  const sockets = createFakeSockets();
  const clock = new TestClock();
  const data: unknown[] = [];
  let renders = 0;
  let ws: InstanceType<typeof sockets.WebSocket> | null = null;
  const machine = connectionMachine.provide({
    actions: {
      openSocket: ({ context: { socketId }, self }) => {
        const socket = (ws = new sockets.WebSocket('ws://127.0.0.1:1/live'));
        const from = () => ({ socketId, at: clock.now() });
        socket.onopen = () => self.send({ type: 'socket.opened', url: 'ws://127.0.0.1:1/live', ...from() });
        socket.onmessage = (event: { data: unknown }) =>
          self.send({ type: 'message.received', messages: [JSON.parse(String(event.data))], ...from() });
        socket.onclose = (event: { code: number; reason: string; wasClean: boolean }) =>
          self.send({ type: 'socket.closed', code: event.code, reason: event.reason, wasClean: event.wasClean, ...from() });
      },
      writeFrames: (_, { frames }) => {
        for (const frame of frames) ws?.send(frame);
      },
      closeSocket: ({ context }) => ws?.close(context.closeRequest?.code ?? 1000, context.closeRequest?.reason ?? ''),
      releaseSocket: () => {
        if (ws !== null) ws.onopen = ws.onmessage = ws.onclose = null;
        ws?.close();
        ws = null;
      },
      updateModel: ({ event }) => {
        if (event.type === 'message.received') data.push(...event.messages);
      },
      renderView: () => {
        renders += 1;
      },
      planRetry: assign(({ context }) => {
        const nextDelayMs = context.config.reconnect.initialDelayMs;
        return { nextDelayMs, nextRetryAt: clock.now() + nextDelayMs };
      }),
    },
  });
  const actor = createActor(machine, { input: { config }, clock });
  return { actor, sockets, clock, data, renders: () => renders };
}

describe('running the chart yourself', () => {
  it('connects, updates the Model and writes sends through the effects you provide', () => {
    const { actor, sockets, data, renders } = runByHand();
    actor.start();
    actor.send({ type: 'client.send', frame: '{"queued":true}' });
    actor.send({ type: 'client.connect' });
    expect(actor.getSnapshot().matches({ session: 'connecting' })).toBe(true);
    sockets.latest.open();
    expect(actor.getSnapshot().matches({ session: 'open' })).toBe(true);
    // the outbox was flushed on open
    expect(sockets.latest.sent).toEqual(['{"queued":true}']);
    sockets.latest.receive({ a: 1 });
    expect(data).toEqual([{ a: 1 }]);
    // entering connecting, entering open, and the message
    expect(renders()).toBe(3);
    actor.stop();
  });

  it('routes a failure through the backoff on your clock and reconnects', () => {
    const { actor, sockets, clock } = runByHand();
    actor.start();
    actor.send({ type: 'client.connect' });
    sockets.latest.open();
    sockets.latest.serverClose(1006, '');
    expect(actor.getSnapshot().matches({ errored: 'waiting' })).toBe(true);
    expect(actor.getSnapshot().context.lastError).toEqual({ code: 'ERR_ABNORMAL_CLOSE', closeCode: 1006 });
    clock.increment(500);
    expect(actor.getSnapshot().matches({ session: 'connecting' })).toBe(true);
    expect(sockets.all).toHaveLength(2);
    actor.stop();
  });

  it('stops for good on a close your socket reports as not reconnectable', () => {
    const { actor, sockets } = runByHand();
    actor.start();
    actor.send({ type: 'client.connect' });
    sockets.latest.open();
    const { socketId } = actor.getSnapshot().context;
    actor.send({ type: 'socket.closed', socketId, at: 0, code: 4401, reason: 'unauthorized', wasClean: true, reconnectable: false });
    expect(actor.getSnapshot().value).toBe('closed');
    expect(actor.getSnapshot().context.lastError).toEqual({ code: 'ERR_FATAL_CLOSE', closeCode: 4401, message: 'unauthorized' });
    actor.stop();
  });
});
