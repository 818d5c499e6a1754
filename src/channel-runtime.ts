/**
 * What channels add to a connection, in the one module that only a protocol with channels (the
 * sync protocol, version 2) imports, through `ChannelSupport.runtime`: a page whose protocol has
 * none (`rawProtocol`, version 1) ships none of it (about 10 KB minified).
 *
 * - the subscription chart (machines/subscription.ts), its requests noted for history and its
 *   waits (after a transient refusal, after its Model threw) drawn from the connection's random
 *   source;
 * - the connection chart's channel effects: writing `subscribe` and `unsubscribe`, settling and
 *   failing a channel's ops, marking ops as resends when the socket goes;
 * - the channel handle (src/channel.ts).
 *
 * The chart with these effects is `liveMachine` provided once more, once per process and only
 * when first needed (src/effects.ts says why a provided machine is not made per connection).
 */
import { assign, enqueueActions, type AnyActorRef } from 'xstate';
import { channelParams } from '../machines/connection.js';
import { filterOutbox, mapOutbox, outboxEntries } from '../machines/outbox.js';
import { resnapshotDelayMs, subscriptionMachine } from '../machines/subscription.js';
import type { SubscriptionRequest } from '../machines/subscription.types.js';
import type { Frame } from '../machines/connection.types.js';
import { openChannel } from './channel.js';
import { CONNECTION_SYSTEM_ID, effectsOf, liveMachine } from './effects.js';
import { describeThrown } from './errors.js';
import { MAX_TIMER_MS } from './timers.js';
import type { ChannelSupport } from './protocol.js';

/** What a protocol with channels brings the connection (`ChannelSupport.runtime`). */
export interface ChannelRuntime {
  /** `liveMachine` with the channel effects and the subscription actor; the same object every call. */
  machine(): typeof liveMachine;
  /** Opens a channel handle on a connection (src/channel.ts). */
  openChannel: typeof openChannel;
}

/** The channel support of the connection's protocol: this chart runs only for protocols that have it. */
const channelsOf = (self: AnyActorRef): ChannelSupport => effectsOf(self).protocol.channels!;

const chartRequests = subscriptionMachine.implementations.actions;

type RequestName = 'requestSubscribe' | 'requestSubscribeAndResend' | 'requestUnsubscribe' | 'reportFailure' | 'reportEnded';

/** A subscription's request to the connection, noted on its way (src/causes.ts), then sent as the chart sends it. */
function noteRequest(enqueue: (action: never) => void, system: { get(id: string): AnyActorRef | undefined }, name: RequestName, type: SubscriptionRequest['type']): void {
  effectsOf(system.get(CONNECTION_SYSTEM_ID)).causes.note(type);
  enqueue(chartRequests[name] as never);
}

/** A share in [0, 1) from the connection's random source; `Math.random` (reported) when it throws. */
function drawRandom(system: { get(id: string): AnyActorRef | undefined }): number {
  const { random, reportCallbackFailure } = effectsOf(system.get(CONNECTION_SYSTEM_ID));
  try {
    return random();
  } catch (error) {
    reportCallbackFailure('ERR_POLICY_FAILED', `random threw: ${describeThrown(error)}; Math.random chose this wait`);
    return Math.random();
  }
}

/**
 * The subscription chart with its waits drawn from the connection's random source: `retryAfterMs ×
 * (1 + r)` after a transient refusal, `resnapshotDelayMs(rejections, r)` after the Model threw.
 */
function liveSubscription() {
  return subscriptionMachine.provide({
    actions: {
      requestSubscribe: enqueueActions(({ enqueue, system }) => noteRequest(enqueue, system, 'requestSubscribe', 'subscription.subscribe')),
      requestSubscribeAndResend: enqueueActions(({ enqueue, system }) =>
        noteRequest(enqueue, system, 'requestSubscribeAndResend', 'subscription.subscribe'),
      ),
      requestUnsubscribe: enqueueActions(({ enqueue, system }) => noteRequest(enqueue, system, 'requestUnsubscribe', 'subscription.unsubscribe')),
      reportFailure: enqueueActions(({ enqueue, system }) => noteRequest(enqueue, system, 'reportFailure', 'subscription.failed')),
      reportEnded: enqueueActions(({ enqueue, system }) => noteRequest(enqueue, system, 'reportEnded', 'subscription.ended')),
      // A server's retryAfterMs is capped where a timer can wait: a longer one fires at once (a hostile or
      // broken server's 2⁴⁰ ms made a subscribe storm, 414 a second).
      planRetry: assign(({ context, system }) => ({
        retryDelayMs: Math.min(MAX_TIMER_MS, Math.round((context.retryAfterMs ?? 0) * (1 + drawRandom(system)))),
      })),
      planResnapshot: assign(({ context, system }) => ({
        retryDelayMs: resnapshotDelayMs(context.rejections, drawRandom(system)),
      })),
    },
  });
}

/** `liveMachine` with the channel effects: built on first use. */
function withChannels() {
  return liveMachine.provide({
    actors: { subscription: liveSubscription() },
    actions: {
      writeSubscribe: enqueueActions(({ context, event, enqueue, self }, params: unknown) => {
        const channels = channelsOf(self);
        const { channel, resend } = channelParams(event, params);
        const frames: Frame[] = [channels.subscribeFrame(channel, outboxEntries(context.outbox))];
        if (resend === true) {
          // after a transient refusal the server answered these ERR_NOT_SUBSCRIBED: they go again, right behind the subscribe
          const outbox = mapOutbox(context.outbox, (entry) => {
            // an op waiting for the channel's mark goes once `synced` told it (`writeMarkedOps`)
            if (entry.channel !== channel || entry.awaitsMark === true) return entry;
            const frame = entry.sent ? channels.asResend(entry.frame) : entry.frame;
            frames.push(frame);
            return { ...entry, frame, sent: true };
          });
          enqueue.assign({ outbox: filterOutbox(outbox, (entry) => entry.channel !== channel || entry.ackId !== undefined) });
        }
        enqueue({ type: 'writeFrames', params: { frames } });
        enqueue.assign(({ context: latest }) => ({ counters: { ...latest.counters, sent: latest.counters.sent + frames.length } }));
      }),
      writeUnsubscribe: enqueueActions(({ event, enqueue, self }, params: unknown) => {
        const channels = channelsOf(self);
        const frames = [channels.unsubscribeFrame(channelParams(event, params).channel)];
        enqueue({ type: 'writeFrames', params: { frames } });
        enqueue.assign(({ context: latest }) => ({ counters: { ...latest.counters, sent: latest.counters.sent + 1 } }));
      }),
      reportChannelOpsFailed: ({ context, event, self }, params: unknown) => {
        const { channel, code = 'ERR_NOT_SUBSCRIBED', message } = channelParams(event, params);
        channelsOf(self).abandonOps(channel, outboxEntries(context.outbox), code, message);
      },
      writeMarkedOps: enqueueActions(({ context, event, enqueue, self }) => {
        if (event.type !== 'channel.marked') return;
        const channels = channelsOf(self);
        const frames: Frame[] = [];
        const outbox = mapOutbox(context.outbox, (entry) => {
          if (entry.channel !== event.channel || entry.awaitsMark !== true || entry.ackId === undefined) return entry;
          const numbered = channels.numberOp(event.channel, entry.frame, entry.ackId);
          frames.push(numbered.frame);
          return { id: entry.id, frame: numbered.frame, ackId: numbered.ackId, sent: true, channel: entry.channel };
        });
        if (frames.length === 0) return;
        enqueue.assign({ outbox });
        enqueue({ type: 'writeFrames', params: { frames } });
        enqueue.assign(({ context: latest }) => ({ counters: { ...latest.counters, sent: latest.counters.sent + frames.length } }));
      }),
      releaseChannel: ({ event, self }, params: unknown) => channelsOf(self).release(channelParams(event, params).channel),
      reportSettled: ({ event, self }) => {
        if (event.type === 'ack.received') channelsOf(self).settle(event.id, event.code, event.message);
      },
      prepareResends: assign(({ context, self }) => {
        const channels = channelsOf(self);
        // before the session's welcome time is forgotten: the resends of ops first written on it carry it
        const outbox = mapOutbox(context.outbox, (entry) =>
          entry.channel !== undefined && entry.sent ? { ...entry, frame: channels.asResend(entry.frame) } : entry,
        );
        channels.sessionEnded();
        return { outbox };
      }),
    },
  });
}

let machine: typeof liveMachine | null = null;

export const channelRuntime: ChannelRuntime = {
  machine: () => (machine ??= withChannels()),
  openChannel,
};
