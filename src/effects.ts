/**
 * The chart with statesocket's effects, provided once per process. The effects of
 * channels (the subscription actor, writing `subscribe`, settling ops) are added
 * by src/channel-runtime.ts, which only a protocol with channels brings.
 *
 * `connectionMachine.provide()` builds a whole new machine (every state node,
 * transition and delay): about 55 KiB, two thirds of what a connection used to
 * hold (bench/RESULTS.md, scenario 2). So there is one provided machine, and
 * each connection hands it its effects through the actor's own input:
 * `createActor(liveMachine, { input: { config, effects } })`. Actions read them
 * from `self` (the connection's actor), the socket among them (`openSocket`
 * keeps it in the effects until `releaseSocket`). Nothing is looked up in a
 * global table, and the effects go when the actor goes.
 */

import { assign, enqueueActions, type AnyActorRef } from 'xstate';
import { connectionMachine } from '../machines/connection.js';
import type { ConnectionContext, ConnectionEvent, ConnectionInput, ErrorCode, Frame } from '../machines/connection.types.js';
import { computeRetryDelay } from './backoff.js';
import { catchRejection, isThenable } from './callbacks.js';
import { describeThrown } from './errors.js';
import type { FastPathSwitch } from './fast-path.js';
import { encodeJsonFrame, exceedsBytes, frameBytes } from './frames.js';
import type { GreetingResult } from './options.js';
import { checkDecoded, type Protocol } from './protocol.js';
import type { Renderer } from './render.js';
import { openSocket, type SocketActorDeps, type SocketSession } from './socket.js';
import type { Model } from './types.js';

/** What one connection supplies to the shared machine. */
export interface ConnectionEffects {
  /** The socket's dependencies (src/socket.ts); its `shouldReconnect` decides `socket.closed`'s `reconnectable`. */
  socket: SocketActorDeps;
  model: Model<unknown>;
  protocol: Protocol<unknown>;
  greeting: ((context: ConnectionContext, model: Model<unknown>) => GreetingResult) | undefined;
  now: () => number;
  /** The `random` option, guarded (src/policies.ts): never throws, always in [0, 1). */
  random: () => number;
  /** Schedules a coalesced `view.render` (`request()`). */
  renderer: Pick<Renderer, 'request'>;
  /** Records a throw from a user callback the connection carried on after (`status.lastCallbackError`). */
  reportCallbackFailure: (code: ErrorCode, message: string) => void;
  /**
   * Notes an event on its way to the connection's actor from one of its children (a subscription
   * actor's request), so history names it (src/causes.ts: those events reach the actor without `send`).
   */
  causes: { note(type: string): void };
  /** Whether the hot events may skip XState's macrostep now (src/fast-path.ts); absent: never. */
  fastPath?: FastPathSwitch;
  /** The attempt's socket, from `openSocket` (entering `session`) to `releaseSocket` (leaving it, or the actor stopping). */
  liveSocket: SocketSession | null;
}

/** The input of `liveMachine`: the chart's input plus this connection's effects. */
export interface LiveInput extends ConnectionInput {
  effects: ConnectionEffects;
}

/** The system id `createConnection` gives the connection's actor (its channels' actors reach it by this id). */
export const CONNECTION_SYSTEM_ID = 'connection';

/** The effects in the input `actor` was created with (`createActor(liveMachine, { input })`). */
export function effectsOf(actor: AnyActorRef | undefined): ConnectionEffects {
  // An Actor keeps the options it was created with (`actor.options.input`).
  const effects = (actor as { options?: { input?: Partial<LiveInput> } } | undefined)?.options?.input?.effects;
  if (effects === undefined) {
    throw new Error('statesocket: liveMachine needs input.effects; create connections with createConnection()');
  }
  return effects;
}

function greetingFrames(result: GreetingResult): Frame[] {
  if (result === null || result === undefined) return [];
  const items = Array.isArray(result) ? result : [result];
  return items.map((item) => encodeJsonFrame(item));
}

/**
 * Calls `model.update` for each message of the read, then `protocol.applied`
 * (the protocol's position moves only past what the model accepted); a throw
 * comes back as `message.rejected` (and, for a channel's Model, goes to the
 * channel: `ChannelReceiver.rejected`).
 *
 * The protocol classified the read's messages assuming each would apply (a
 * patch is checked against the one before it). Once the model refuses one,
 * the rest are classified again, one at a time, against the model as it now
 * is: data is applied; anything else (a gap's `resync.needed`, say) is sent to
 * the chart and ends the read, as it would have had the refusal come first.
 */
function updateModel(effects: ConnectionEffects, context: ConnectionContext, event: ConnectionEvent, self: AnyActorRef): void {
  if (event.type !== 'message.received') return;
  const { model, protocol, now } = effects;
  // With channels, each message goes to its channel's Model (the connection's own is the default channel's).
  const channels = protocol.channels;
  let refused = false;
  for (const message of event.messages) {
    if (!refused) {
      const receiver = channels === undefined ? undefined : channels.receiverOf(message);
      try {
        watchUpdate(effects, (receiver === undefined ? model : receiver.model).update(message));
      } catch (error) {
        refused = true;
        self.send(modelRejection(error, context, now));
        receiver?.rejected?.(message, error);
        continue;
      }
      if (protocol.applied !== undefined) noteApplied(effects, protocol, message, context, now, self);
      receiver?.render();
      continue;
    }
    let inbound: ReturnType<Protocol<unknown>['decode']>;
    try {
      const decoded: unknown = protocol.decode(message, model, []);
      if (catchRejection(decoded)) throw new Error('protocol.decode returned a promise; it must be synchronous');
      inbound = checkDecoded(decoded);
    } catch (error) {
      inbound = { type: 'message.rejected', code: 'ERR_UNKNOWN_MESSAGE', message: describeThrown(error) };
    }
    const events = Array.isArray(inbound) ? inbound : [inbound];
    const other = events.filter((e) => e.type !== 'message.received');
    if (other.length > 0) {
      for (const e of other) self.send({ ...e, socketId: context.socketId, at: now() } as ConnectionEvent);
      // One document: a resync brings a new snapshot of everything. Channels: only that channel resyncs (and drops its patches
      // until its snapshot); the other channels' messages of the read still apply.
      if (channels === undefined) return;
      continue;
    }
    for (const e of events) {
      const data = (e as { message: unknown }).message;
      const receiver = channels === undefined ? undefined : channels.receiverOf(data);
      try {
        watchUpdate(effects, (receiver === undefined ? model : receiver.model).update(data));
      } catch (error) {
        self.send(modelRejection(error, context, now));
        receiver?.rejected?.(data, error);
        continue;
      }
      if (protocol.applied !== undefined) noteApplied(effects, protocol, data, context, now, self);
      receiver?.render();
    }
  }
}

/**
 * `model.update` must be synchronous: a promise it returns is not awaited (the
 * message counts as applied, and the protocol's position moves past it). A
 * rejection is reported as `ERR_MODEL_REJECTED` in `status.lastCallbackError`.
 */
function watchUpdate(effects: ConnectionEffects, result: unknown): void {
  // checked first: the handler is a closure, made only for a promise (issue 15: per-message garbage)
  if (!isThenable(result)) return;
  catchRejection(result, (error) =>
    effects.reportCallbackFailure(
      'ERR_MODEL_REJECTED',
      `model.update rejected: ${describeThrown(error)}; the message was already applied (update is not awaited)`,
    ),
  );
}

/** Tells the protocol the model accepted `message`; a throw rejects it (the position stays). */
function noteApplied(
  effects: ConnectionEffects,
  protocol: Protocol<unknown>,
  message: unknown,
  context: ConnectionContext,
  now: () => number,
  self: AnyActorRef,
): void {
  try {
    const result = protocol.applied!(message);
    if (!isThenable(result)) return;
    catchRejection(result, (error) =>
      effects.reportCallbackFailure('ERR_UNKNOWN_MESSAGE', `protocol.applied rejected: ${describeThrown(error)} (it is not awaited)`),
    );
  } catch (error) {
    self.send({
      type: 'message.rejected',
      code: 'ERR_UNKNOWN_MESSAGE',
      message: `protocol.applied threw: ${describeThrown(error)}`,
      socketId: context.socketId,
      at: now(),
    });
  }
}

function modelRejection(error: unknown, context: ConnectionContext, now: () => number): ConnectionEvent {
  return {
    type: 'message.rejected',
    code: 'ERR_MODEL_REJECTED',
    message: describeThrown(error),
    socketId: context.socketId,
    at: now(),
  };
}

/** Releases the connection's socket, if one is open (leaving `session`, or the actor stopping). */
export function releaseSocket(effects: ConnectionEffects): void {
  const session = effects.liveSocket;
  effects.liveSocket = null;
  session?.release();
}

/** `connectionMachine` with every effect but those of channels supplied; shared by all connections of the process. */
export const liveMachine = connectionMachine.provide({
  actions: {
    openSocket: ({ context, self }) => {
      const effects = effectsOf(self);
      releaseSocket(effects);
      effects.liveSocket = openSocket(effects.socket, context.socketId, (event) => self.send(event));
    },
    writeFrames: ({ self }, { frames }) => effectsOf(self).liveSocket?.command({ type: 'write', frames }),
    closeSocket: ({ context, self }) =>
      effectsOf(self).liveSocket?.command({ type: 'close', code: context.closeRequest?.code ?? 1000, reason: context.closeRequest?.reason ?? '' }),
    checkDrain: ({ self }) => effectsOf(self).liveSocket?.command({ type: 'checkDrain' }),
    releaseSocket: ({ self }) => releaseSocket(effectsOf(self)),
    updateModel: ({ context, event, self }) => updateModel(effectsOf(self), context, event, self),
    renderView: ({ self }) => effectsOf(self).renderer.request(),
    sendGreeting: enqueueActions(({ context, event, enqueue, self }) => {
      const { protocol, model, greeting, now, reportCallbackFailure } = effectsOf(self);
      let frames: Frame[] = [];
      let failure: string | null = null;
      let failureCode: ErrorCode = 'ERR_GREETING_FAILED';
      try {
        if (event.type === 'resync.needed') {
          catchRejection(protocol.resync?.(model), (error) =>
            reportCallbackFailure('ERR_GREETING_FAILED', `protocol.resync rejected: ${describeThrown(error)} (it is not awaited)`),
          );
        }
        const own = protocol.greeting?.(context, model);
        const user = greeting?.(context, model);
        // A greeting must be synchronous: its frames go out before anything queued, at once.
        const ownIsPromise = catchRejection(own);
        const userIsPromise = catchRejection(user);
        if (ownIsPromise || userIsPromise) {
          failure = `the ${ownIsPromise ? "protocol's greeting" : 'greeting'} returned a promise; a greeting must be synchronous (fetch what it needs beforehand)`;
        } else frames = [...(own ?? []), ...greetingFrames(user)];
      } catch (error) {
        failure = `the greeting threw: ${describeThrown(error)}`;
      }
      const limit = context.config.maxMessageBytes;
      const oversized = failure === null ? frames.find((frame) => exceedsBytes(frame, limit)) : undefined;
      if (oversized !== undefined) {
        // the server would close the connection for it (1009), and the attempt would fail less clearly
        failureCode = 'ERR_PAYLOAD_TOO_LARGE';
        failure =
          `a greeting frame of ${frameBytes(oversized)} bytes exceeds maxMessageBytes (${limit}); nothing was sent. ` +
          'Make the greeting smaller, or raise maxMessageBytes (and the server limit) together.';
      }
      if (failure !== null) {
        // A greeting that throws (or is too large) fails the attempt (errored, then backoff), as a refused handshake would.
        enqueue.assign({ greetingFailed: true });
        enqueue.raise({
          type: 'socket.errored',
          code: failureCode,
          message: failure,
          socketId: context.socketId,
          at: now(),
        });
        return;
      }
      if (frames.length === 0) return;
      enqueue({ type: 'writeFrames', params: { frames } });
      enqueue.assign(({ context: latest }) => ({
        counters: { ...latest.counters, sent: latest.counters.sent + frames.length },
      }));
    }),
    planRetry: assign(({ context, self }) => {
      // `random` is guarded (src/policies.ts): a throw or a share outside [0, 1) cannot stop the reconnect
      const { now, random } = effectsOf(self);
      const nextDelayMs = computeRetryDelay(context.config.reconnect, context.attempt, random(), context.lastError?.closeCode);
      return { nextDelayMs, nextRetryAt: now() + nextDelayMs };
    }),
    recordPing: assign({ pingSentAt: ({ self }) => effectsOf(self).now() }),
    checkPong: enqueueActions(({ self, enqueue }) => enqueue.raise({ type: 'heartbeat.checked', at: effectsOf(self).now() })),
  },
});
