/**
 * The channel handle: what `connection.channel(name, options)` returns (docs/channels.md). Like
 * the connection's facade it only sends events to the connection's actor and reads snapshots (its
 * subscription actor's, for the status); its Model is updated on the connection's hot path, and
 * its view renders coalesced, as the connection's does.
 */
import type { AnyActorRef, Snapshot } from 'xstate';
import { subscriptionId } from '../machines/connection.js';
import { admitToOutbox, outboxEntries } from '../machines/outbox.js';
import type { ConnectionConfig, ConnectionEvent, Outbox, OutboxEntry } from '../machines/connection.types.js';
import type { SubscriptionContext, SubscriptionEvent } from '../machines/subscription.types.js';
import { catchRejection } from './callbacks.js';
import { StatesocketError, describeThrown, type ErrorCode } from './errors.js';
import { exceedsBytes, frameBytes } from './frames.js';
import { createPresence, type Presence, type PresenceData } from './presence.js';
import type { ChangelogPage, ChannelSupport } from './protocol.js';
import { FRAMES, Renderer, type FrameSource } from './render.js';
import { createStore, type Store } from './store.js';
import type { Changes } from './sync/messages.js';
import type { AnyModel, DataOf, RenderScheduler, View } from './types.js';
import type { ChannelError, DataRefusalCode } from '../machines/subscription.types.js';

/** The states a channel reports (`ChannelStatus.state`): its subscription actor's. */
export type ChannelStateName = 'unsubscribed' | 'subscribing' | 'subscribed' | 'retrying' | 'rejected' | 'unsubscribing' | 'failed' | 'ended';

/**
 * Why a channel failed or waits: `code` and `message`; for `ERR_MODEL_REJECTED`, `cause` is what
 * the channel's Model threw.
 */
export interface ChannelStatusError extends ChannelError {
  cause?: unknown;
}

/** A channel's status, read from its subscription actor: the same object until it changes. */
export interface ChannelStatus {
  channel: string;
  state: ChannelStateName;
  /**
   * The data is live: subscribed and caught up. False while the connection is down, while a
   * (re)subscribe is unanswered, while waiting to retry, after the channel's Model threw on its
   * data (`rejected`), and after the channel ended or failed: the Model keeps the last data it
   * had (stale).
   */
  live: boolean;
  /**
   * Why the channel failed (`failed`), waits (`retrying`), or is stale because its Model threw
   * (`rejected`, `ERR_MODEL_REJECTED` with the thrown value as `cause`) or the connection's
   * `inbound` schema refused its data (`rejected`, `ERR_INVALID_MESSAGE`); kept until the channel
   * is live again; null otherwise.
   */
  lastError: ChannelStatusError | null;
  /** While `retrying` or `rejected`: how long this wait lasts, in ms, before it subscribes again. */
  retryDelayMs: number | null;
  /** Subscribes after the first (reconnects, gaps, retries). */
  resubscribes: number;
  /** `ERR_PRESENCE_FORBIDDEN`'s message when presence was refused (the subscription stands without it). */
  presenceError: string | null;
}

/** A channel's presence: the members, as a Model a view can render. */
export interface ChannelPresence {
  /** The members, ordered as the server orders them; the same array until a change. */
  getData(): PresenceData;
  /** The presence Model itself. */
  readonly model: Presence;
}

/**
 * Options of `connection.channel(name, options)`. `M` is the channel's Model (`Store` by default).
 */
export interface ChannelOptions<M extends AnyModel = Store> {
  /**
   * The channel's Model: receives the channel's `snapshot` and `patch` frames.
   * @default createStore()
   */
  model?: M;
  /**
   * Rendered at most once per frame with the Model's data and the channel's status.
   * @default none
   */
  view?: View<DataOf<M>, ChannelStatus>;
  /**
   * See and be seen: the channel's members (`channel.presence`), `true` or with a view of them.
   * @default false
   */
  presence?: boolean | { view?: View<PresenceData, ChannelStatus> };
}

/** What `changes()` takes. */
export interface ChangesOptions {
  /** Patches after this seq (of the channel's current epoch); absent: the last `limit` patches. */
  since?: number;
  /**
   * Most patches in the answer; the server may send fewer (`more` says so).
   * @default 100
   */
  limit?: number;
}

/** A channel held on a connection (docs/channels.md). */
export interface Channel<M extends AnyModel = Store> {
  readonly name: string;
  /** The channel's Model. */
  readonly model: M;
  /** The members, when the channel was opened with `presence`; else null. */
  readonly presence: ChannelPresence | null;
  /** The channel's subscription actor (a child of the connection's actor). */
  readonly actor: AnyActorRef;
  getStatus(): ChannelStatus;
  /** Calls `listener` on every status change; returns the unsubscribe function. */
  subscribe(listener: (status: ChannelStatus) => void): () => void;
  /**
   * Sends an op on the channel: queued in the connection's one outbox, resent after reconnects
   * until its answer, applied exactly once. The promise resolves on the server's ack and rejects
   * with the refusal's code (`ERR_DATA_LIMIT`, `ERR_PUBLISH_FORBIDDEN`, `ERR_CLIENT_FORGOTTEN`, …)
   * or the channel's failure; with `ERR_STOPPED` when `stop()` came before it was written, and
   * `ERR_OP_UNCONFIRMED` when its fate cannot be known (written, its answer lost: it may have
   * applied). With a stored `clientId` it waits unnumbered until the channel's first `synced`
   * (docs/channels.md). Ignoring it is safe (its rejection is handled).
   * @throws StatesocketError `ERR_NOT_SUBSCRIBED` once the channel ended or failed, `ERR_PAYLOAD_TOO_LARGE`, `ERR_OUTBOX_FULL`; TypeError for an invalid op
   */
  send(op: Changes): Promise<void>;
  /**
   * Past patches of the channel from the server's log (`changes`/`changelog`), without resubscribing.
   * Rejects with `ERR_NOT_SUBSCRIBED` unless the channel is subscribed, or when the connection is lost first.
   * @throws RangeError when `since` or `limit` is not a whole number (limit at least 1)
   */
  changes(options?: ChangesOptions): Promise<ChangelogPage>;
  /**
   * Stops holding the channel; its view stops rendering. Its ops never written fail with
   * `ERR_NOT_SUBSCRIBED`; one already written settles by its answer on the socket, or with
   * `ERR_OP_UNCONFIRMED` (it may have applied) when the socket goes first.
   */
  unsubscribe(): void;
}

/** What a channel handle needs of its connection. */
export interface ChannelHost {
  actor: AnyActorRef & { send(event: ConnectionEvent): void };
  channels: ChannelSupport;
  config: ConnectionConfig;
  schedule: RenderScheduler;
  failed(code: ErrorCode, message: string): void;
  assertUsable(): void;
  outbox(): Outbox;
  canWriteNow(): boolean;
  /** The connection's renders, which follow every change of the channel too (statesocket/react). */
  frames: FrameSource;
}

const STATES: readonly ChannelStateName[] = ['subscribed', 'subscribing', 'retrying', 'rejected', 'unsubscribing', 'unsubscribed', 'failed', 'ended'];

type SubscriptionSnapshot = Snapshot<unknown> & { context: SubscriptionContext; hasTag(tag: string): boolean; can(event: SubscriptionEvent): boolean };

function statusOf(snapshot: SubscriptionSnapshot, channel: string, lastError: ChannelStatusError | null): ChannelStatus {
  const state = STATES.find((name) => snapshot.hasTag(name)) ?? 'ended';
  const { context } = snapshot;
  return {
    channel,
    state: snapshot.status === 'stopped' && state !== 'failed' ? 'ended' : state,
    live: snapshot.status === 'active' && snapshot.hasTag('live'),
    lastError,
    retryDelayMs: state === 'retrying' || state === 'rejected' ? context.retryDelayMs : null,
    resubscribes: context.resubscribes,
    presenceError: context.presenceRefused,
  };
}

/**
 * Opens a channel on a connection: registers its receivers with the protocol, spawns its
 * subscription actor (`client.subscribe`) and returns the handle.
 */
export function openChannel<M extends AnyModel>(
  host: ChannelHost,
  name: string,
  options: ChannelOptions<M>,
  own?: { model: M; render(): void },
): Channel<M> {
  const model = own?.model ?? options.model ?? (createStore() as AnyModel as M);
  const listeners = new Set<(status: ChannelStatus) => void>();
  let status: ChannelStatus;
  const renderer =
    own === undefined && options.view !== undefined
      ? new Renderer(options.view as View<never, never>, model, host.schedule, { status: () => status, rendered: () => {}, failed: host.failed })
      : null;
  const presenceOption = options.presence;
  const presenceModel = presenceOption === undefined || presenceOption === false ? null : createPresence();
  const presenceView = typeof presenceOption === 'object' ? presenceOption.view : undefined;
  const presenceRenderer =
    presenceModel !== null && presenceView !== undefined
      ? new Renderer(presenceView as View<never, never>, presenceModel, host.schedule, { status: () => status, rendered: () => {}, failed: host.failed })
      : null;

  // What the Model threw, oldest first, until the chart records it: the chart keeps plain data (a code
  // and a message); the status adds the thrown value. Kept only when the chart will record it (not
  // while it already waits for a fresh snapshot); of several in one read it records the first.
  let thrown: unknown[] = [];
  let shownError: { of: ChannelError | null; error: ChannelStatusError | null } = { of: null, error: null };
  const errorOf = (snapshot: SubscriptionSnapshot): ChannelStatusError | null => {
    const { lastError } = snapshot.context;
    if (lastError !== shownError.of) {
      let error: ChannelStatusError | null = lastError;
      if (lastError?.code === 'ERR_MODEL_REJECTED') {
        error = { ...lastError, cause: thrown[0] };
        thrown = [];
      }
      shownError = { of: lastError, error };
    }
    return shownError.error;
  };
  const rejected = (message: unknown, error: unknown, code: DataRefusalCode = 'ERR_MODEL_REJECTED', pending?: readonly unknown[]) => {
    // on the refusal path only (src/effects.ts, src/inbound-schema.ts): the protocol drops the channel's patches until a fresh snapshot
    const event: SubscriptionEvent =
      code === 'ERR_MODEL_REJECTED'
        ? { type: 'model.rejected', channel: name, message: `model.update threw on ${describeData(message)} of ${name}: ${describeThrown(error)}` }
        : { type: 'model.rejected', channel: name, code, message: `the inbound schema refused ${describeData(message)} of ${name}: ${String(error)}` };
    if (code === 'ERR_MODEL_REJECTED' && (actor.getSnapshot() as SubscriptionSnapshot).can(event)) thrown.push(error);
    host.channels.modelRejected(name, pending);
    host.actor.send(event);
  };

  host.channels.open(
    name,
    { model: model as never, render: own?.render ?? (() => renderer?.request()), rejected },
    presenceModel === null ? null : { model: presenceModel as never, render: () => presenceRenderer?.request() },
  );
  host.actor.send({ type: 'client.subscribe', channel: name, presence: presenceModel !== null, own: own !== undefined });
  // the connection's child, held by its system id (machines/connection.ts, `subscriptionId`)
  const actor = host.actor.system.get(subscriptionId(name)) as AnyActorRef;
  status = statusOf(actor.getSnapshot() as SubscriptionSnapshot, name, null);

  const stopRendering = () => {
    renderer?.stop();
    presenceRenderer?.stop();
  };
  const notify = () => {
    for (const listener of [...listeners]) {
      try {
        catchRejection(listener(status), (error) => host.failed('ERR_LISTENER_FAILED', `a channel status listener rejected: ${describeThrown(error)}`));
      } catch (error) {
        host.failed('ERR_LISTENER_FAILED', `a channel status listener threw: ${describeThrown(error)}`);
      }
    }
  };
  const follow = actor.subscribe({
    next: (snapshot) => {
      const next = statusOf(snapshot as SubscriptionSnapshot, name, errorOf(snapshot as SubscriptionSnapshot));
      if (sameChannelStatus(next, status)) return;
      status = next;
      renderer?.request();
      presenceRenderer?.request();
      notify();
    },
    complete: () => {
      const last = actor.getSnapshot() as SubscriptionSnapshot;
      const next = statusOf(last, name, errorOf(last));
      if (!sameChannelStatus(next, status)) {
        status = next;
        notify();
      }
      // a failed channel keeps its last render; an ended one too: nothing changes its data any more
      stopRendering();
    },
    error: () => stopRendering(),
  });

  const ended = () => status.state === 'failed' || status.state === 'ended' || status.state === 'unsubscribing';
  const notHeld = (what: string) =>
    new StatesocketError(
      status.state === 'failed' && status.lastError !== null && status.lastError.code !== 'ERR_PAYLOAD_TOO_LARGE' ? status.lastError.code : 'ERR_NOT_SUBSCRIBED',
      `${what}: channel ${name} is ${status.state}${status.lastError ? ` (${status.lastError.code}: ${status.lastError.message})` : ''}; open it again with connection.channel()`,
    );

  const handle: Channel<M> & { [FRAMES]: FrameSource } = {
    name,
    model,
    actor,
    [FRAMES]: host.frames,
    presence: presenceModel === null ? null : { model: presenceModel, getData: () => presenceModel.getData() },
    getStatus: () => status,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    send(op) {
      host.assertUsable();
      if (ended()) throw notHeld('send()');
      const { frame, ackId, awaitsMark } = host.channels.encodeOp(name, op);
      const serverLimit = host.channels.session?.maxMessageBytes ?? Infinity;
      const limit = Math.min(host.config.maxMessageBytes, serverLimit);
      if (exceedsBytes(frame, limit)) {
        throw new StatesocketError(
          'ERR_PAYLOAD_TOO_LARGE',
          `op of ${frameBytes(frame)} bytes exceeds ${limit === serverLimit ? "the server's limit (welcome.maxMessageBytes)" : 'maxMessageBytes'} (${limit}); nothing was queued. Split it.`,
        );
      }
      const outbox = host.outbox();
      const queued = outbox.size;
      const admission = admitToOutbox(outbox, host.config.outbox);
      if (admission.kind === 'refuse') {
        throw new StatesocketError(
          'ERR_OUTBOX_FULL',
          `the outbox holds ${queued} of ${host.config.outbox.limit} entries and outbox.overflow is 'reject'; nothing queued was lost. Wait for answers, or raise outbox.limit.`,
        );
      }
      const answer = host.channels.waitFor(ackId);
      // an op the overflow policy drops will never be answered: its promise says so
      const full = `dropped by outbox.overflow '${host.config.outbox.overflow}': the outbox held ${queued} of ${host.config.outbox.limit} entries`;
      // (never one already written: admitToOutbox drops only entries that never applied)
      const dropped = admission.kind === 'drop-entry' ? outboxEntries(outbox)[admission.index]?.ackId : admission.kind === 'drop-new' ? ackId : undefined;
      if (dropped !== undefined) host.channels.settle(dropped, 'ERR_OUTBOX_FULL', full);
      // refused for now: the op waits for the channel's next subscribe, and goes right behind it
      if (awaitsMark) host.actor.send({ type: 'client.send', frame, ackId, channel: name, awaitsMark });
      else if (status.state === 'retrying') host.actor.send({ type: 'client.send', frame, ackId, channel: name, hold: true });
      else host.actor.send({ type: 'client.send', frame, ackId, channel: name });
      return answer;
    },
    changes(request = {}) {
      host.assertUsable();
      if (typeof request !== 'object' || request === null) {
        throw new TypeError(`statesocket: changes() takes { since?, limit? }; received ${request === null ? 'null' : typeof request}`);
      }
      const { since, limit = 100 } = request;
      if (since !== undefined && !(Number.isSafeInteger(since) && since >= 0)) {
        throw new RangeError(`statesocket: changes() option \`since\` must be a whole number >= 0; received ${String(since)}`);
      }
      if (!(Number.isSafeInteger(limit) && limit >= 1)) {
        throw new RangeError(`statesocket: changes() option \`limit\` must be a whole number >= 1; received ${String(limit)}`);
      }
      if (status.state !== 'subscribed' || !host.canWriteNow()) {
        const refused = Promise.reject(notHeld('changes()'));
        refused.catch(() => {}); // like every answer of this handle, safe to ignore
        return refused;
      }
      const { frame, answer } = host.channels.request(name, since, limit);
      host.actor.send({ type: 'client.send', frame });
      return answer;
    },
    unsubscribe() {
      if (ended()) return;
      host.actor.send({ type: 'client.unsubscribe', channel: name });
      if (status.state === 'ended') follow.unsubscribe();
    },
  };
  return handle;
}

/** A data frame, as a message names it: `snapshot E:4`, `patch E:5`. */
function describeData(message: unknown): string {
  const { type, epoch, seq } = (message ?? {}) as { type?: unknown; epoch?: unknown; seq?: unknown };
  return `${String(type)} ${String(epoch)}:${String(seq)}`;
}

function sameChannelStatus(a: ChannelStatus, b: ChannelStatus): boolean {
  return (
    a.state === b.state &&
    a.live === b.live &&
    a.lastError === b.lastError &&
    a.retryDelayMs === b.retryDelayMs &&
    a.resubscribes === b.resubscribes &&
    a.presenceError === b.presenceError
  );
}
