/**
 * The sync protocol, version 2, client side (docs/protocol.md): channels over one connection.
 * `createChannelProtocol()` returns it. Its own export, not an option of `createSyncProtocol`, so
 * a page that speaks version 1 does not ship it (about 17 KB minified).
 *
 * - Every connection opens with `hello {v: 2, client, maxMessageBytes, token?}`; then the
 *   connection chart writes a `subscribe` per channel (with the channel's position and `acked`,
 *   from `subscribeFrame`), then the outbox.
 * - The protocol keeps, per channel, the position (`epoch`, `seq`) its Model accepted, and the
 *   last op number it gave out (`n`, raised above `synced.mark`). Like version 1's position, a
 *   channel's position moves only in `applied`, once the channel's Model accepted the frame; a
 *   frame the Model threw on (`modelRejected`) makes it drop the channel's patches until a fresh
 *   snapshot, which its next subscribe asks for (without a position).
 * - Data frames (`snapshot`, `patch`, and the presence frames) are classified here and go, a socket
 *   read at a time, to the channel's Model (`receiverOf`, called by the connection's `updateModel`).
 *   Lifecycle frames become `channel.*` events for the channel's subscription actor.
 * - Ops are numbered per channel; their outbox id is `"<channel> <n>"` (a space is never part of
 *   a channel name). An op still unanswered when its socket goes is resent with `re`.
 * - Chunks are joined here, bounded by `maxReassemblyBytes`, and the whole frame decoded as if it
 *   had come in one piece.
 *
 * One object may serve many connections: each calls `forConnection()` and gets its own state and
 * client id.
 */
import type { ErrorCode, Frame, OutboxEntry } from '../../machines/connection.types.js';
import type { ChannelErrorCode } from '../../machines/subscription.types.js';
import { channelRuntime } from '../channel-runtime.js';
import { StatesocketError } from '../errors.js';
import type { ChangelogPage, ChannelReceiver, ChannelSupport, InboundEvent, Protocol, SessionInfo } from '../protocol.js';
import { utf8Length } from '../frames.js';
import type { StoreData } from '../store.js';
import {
  DEFAULT_CHANNEL,
  DEFAULT_V2_LIMITS,
  MIN_MESSAGE_BYTES,
  NAME_RULE,
  isChannelName,
  PROTOCOL_VERSION_2,
  isClientId,
  parseClientFrameV2,
  isPatchFrameV2,
  parseServerFrameV2,
  type ChunkFrame,
  type HelloFrameV2,
  type ServerFrameV2,
  type SubscribeFrame,
} from './messages-v2.js';
import type { SyncOutbound } from './client-protocol.js';
import { CLIENT_VALUE_LIMITS, checkChanges } from './values.js';

/**
 * A token: a string, or a function called at every connect and on every `refresh` (it may be
 * async) that returns one. A function that returns anything but a string (`undefined` included)
 * fails the attempt with `ERR_GREETING_FAILED`: it never connects without the token it was meant to give.
 */
export type TokenSource = string | (() => string | Promise<string>);

export interface ChannelProtocolOptions {
  /**
   * This client's id (`hello.client`), kept for the connection object's life. A stored id must
   * never be used by two live connections at once.
   * @default a new UUID per connection
   */
  clientId?: string;
  /**
   * Sent in every `hello`, and in `auth` when the server asks for a fresh one (`refresh`): a
   * string, or a function called at every connect and on every `refresh` (it may be async).
   * With a function, a close with 4419 (token expired) reconnects; with a string it is final. A
   * function that returns no string (`undefined`, `null`, an object) fails the attempt with
   * `ERR_GREETING_FAILED` (on a refresh: `lastCallbackError`), so it never connects without one.
   * @default none
   */
  token?: TokenSource;
  /**
   * The largest frame the client joins from chunks, in bytes; a larger one fails its channel
   * with `ERR_PAYLOAD_TOO_LARGE` (the connection and other channels go on).
   * @default 16777216 (16 MiB)
   */
  maxReassemblyBytes?: number;
  /**
   * The connection's own Model is the `default` channel, subscribed on every connect. `false`
   * when the connection only holds channels it names.
   * @default true
   */
  defaultChannel?: boolean;
}

/** The outbox id of op `n` of a channel. */
export const opAckId = (channel: string, n: number): string => `${channel} ${n}`;

/** The op number in an outbox id made by `opAckId`. */
const nOf = (ackId: string): number => Number(ackId.slice(ackId.lastIndexOf(' ') + 1));

/**
 * The provisional outbox id of the `k`-th op of a channel that waits for its mark: never an
 * `opAckId` (no ack names it), so no answer settles it before `numberOp` gives it its number.
 */
const unnumberedId = (channel: string, k: number): string => `${channel} ?${k}`;

/** An op frame's `n` until its number is known: the largest there is, so the size checked at send() is never exceeded. */
const PLACEHOLDER_N = Number.MAX_SAFE_INTEGER;

const PING = '{"type":"ping"}';
const UNCONFIRMED_LOST = 'written on a socket that went before its answer, after its channel ended; it may or may not have applied';
/** A resend's frame starts with its `re`, so telling one from a first write needs no parse. */
const RESEND_PREFIX = '{"re":';

const CHANNEL_CODES: ReadonlySet<string> = new Set<ChannelErrorCode>([
  'ERR_INVALID_CHANNEL',
  'ERR_CHANNEL_FORBIDDEN',
  'ERR_CHANNEL_UNKNOWN',
  'ERR_CHANNEL_LIMIT',
  'ERR_CHANNEL_UNAVAILABLE',
  'ERR_RATE_LIMITED',
]);
const OP_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'ERR_INVALID_FRAME',
  'ERR_DATA_LIMIT',
  'ERR_PUBLISH_FORBIDDEN',
  'ERR_CLIENT_FORGOTTEN',
  'ERR_STORAGE_FULL',
  'ERR_CHANNEL_FORBIDDEN',
  'ERR_NOT_SUBSCRIBED',
  'ERR_INVALID_CHANNEL',
]);
const channelCode = (code: string): ChannelErrorCode => (CHANNEL_CODES.has(code) ? (code as ChannelErrorCode) : 'ERR_CHANNEL_REFUSED');
const opCode = (code: string): ErrorCode => (OP_CODES.has(code) ? (code as ErrorCode) : 'ERR_SERVER_REJECTED');

/** One channel's state on one connection. A class: one small object per channel. */
class ChannelState {
  /** The position: the last snapshot or patch the Model accepted (`epoch` null: none yet). */
  epoch: string | null = null;
  seq = 0;
  /** A gap or an out-of-step `synced`: patches are dropped until a snapshot, and the next subscribe has no position. */
  awaitingSnapshot = false;
  /** Messages of the read decoded before the gap, still to be applied: they must not end `awaitingSnapshot`. */
  appliesBeforeGap = 0;
  /** The last op number given out (or the server's mark, when higher). */
  lastN = 0;
  /**
   * The server's mark of this client on the channel is known: always with a client id of the
   * connection's own (the server has none), else once a `synced` told it. Until then ops wait
   * unnumbered (`awaitsMark`): numbered from 1, a stored id's ops would be answered as duplicates.
   */
  markKnown = true;
  constructor(
    readonly name: string,
    readonly data: ChannelReceiver,
    readonly presence: ChannelReceiver | null,
  ) {}
}

interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

interface Reassembly {
  id: number;
  channel: string;
  count: number;
  bytes: number;
  parts: string[];
  /** UTF-16 length of the parts so far: never more than `bytes` (a character is at least one UTF-8 byte). */
  length: number;
  /** Over `maxReassemblyBytes`: its pieces are dropped as they come. */
  dropping: boolean;
}

/** A promise that nobody has to await: its rejection is handled (an ignored `send()` must not crash the process). */
function quietPromise<T>(): { promise: Promise<T>; settle: Pending<T> } {
  let settle!: Pending<T>;
  const promise = new Promise<T>((resolve, reject) => {
    settle = { resolve, reject };
  });
  promise.catch(() => {});
  return { promise, settle };
}

let fallbackCounter = 0;
function newClientId(): string {
  const uuid = globalThis.crypto?.randomUUID?.();
  return uuid ?? `c-${Date.now().toString(36)}-${(fallbackCounter++).toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

class SyncProtocolV2<T> implements Protocol<T, SyncOutbound>, ChannelSupport {
  readonly name = 'statesocket/2';
  readonly ping = PING;
  readonly clientId: string;
  readonly #options: ChannelProtocolOptions;
  readonly #maxReassemblyBytes: number;
  readonly #channels = new Map<string, ChannelState>();
  /** The channel found last by `#channel`: the frames of a read name the same channel, and each frame is looked up three times. */
  #lastChannel: ChannelState | null = null;
  readonly #ops = new Map<string, Pending<void>>();
  /**
   * Ops written on the open socket whose channel ended before their answer, per channel, oldest
   * first, with the code they fail with if the server answers that it does not hold the channel.
   */
  readonly #orphans = new Map<string, Array<{ ackId: string; code: ErrorCode; message: string | undefined; resend: boolean }>>();
  /** Per channel: `ERR_NOT_SUBSCRIBED` answers (without `n`) to ops of a channel still held, since its last subscribe. */
  readonly #refusedWrites = new Map<string, number>();
  /** Ops that waited for their channel's mark, counted: their provisional outbox ids. */
  #unnumbered = 0;
  /** A socket is open: from the greeting until `sessionEnded`. */
  #open = false;
  /** `clientId` came from the options (a stored id): the server may hold a mark for it. */
  readonly #storedId: boolean;
  readonly #requests = new Map<number, Pending<ChangelogPage> & { channel: string }>();
  #nextRef = 0;
  #token: string | undefined;
  #session: SessionInfo | null = null;
  #chunk: Reassembly | null = null;
  /** Counts sessions (sockets): a token that arrives after its socket went is not sent on the next one. */
  #sessions = 0;
  #write: ((frame: string) => void) | null = null;
  #failed: ((code: ErrorCode, message: string) => void) | null = null;

  constructor(options: ChannelProtocolOptions, clientId: string) {
    this.#options = options;
    this.clientId = clientId;
    this.#storedId = options.clientId !== undefined;
    this.#maxReassemblyBytes = options.maxReassemblyBytes ?? DEFAULT_V2_LIMITS.maxReassemblyBytes;
    this.#token = typeof options.token === 'string' ? options.token : undefined;
  }

  get channels(): ChannelSupport {
    return this;
  }

  /** The channel held under `name` (a name from a checked frame), looked up once per run of frames naming it. */
  #channel(name: string): ChannelState | undefined {
    const last = this.#lastChannel;
    if (last !== null && last.name === name) return last;
    const channel = this.#channels.get(name);
    if (channel !== undefined) this.#lastChannel = channel;
    return channel;
  }

  get session(): SessionInfo | null {
    return this.#session;
  }

  forConnection(): Protocol<T, SyncOutbound> {
    return new SyncProtocolV2<T>(this.#options, this.#options.clientId ?? newClientId());
  }

  /** The connection's own Model is the `default` channel (unless `defaultChannel: false`). */
  get defaultChannel(): string | null {
    return this.#options.defaultChannel === false ? null : DEFAULT_CHANNEL;
  }

  readonly minMessageBytes = MIN_MESSAGE_BYTES;

  readonly runtime = channelRuntime;

  nameProblem(name: unknown): string | null {
    return isChannelName(name) ? null : `channel name must be ${NAME_RULE}; received ${JSON.stringify(name)?.slice(0, 140) ?? typeof name}`;
  }

  // ── connecting ──────────────────────────────────────────────────────────

  /** Calls a token function (at every connect); nothing to wait for with a fixed token or none. */
  prepare(): Promise<void> | undefined {
    const { token } = this.#options;
    if (typeof token !== 'function') return undefined;
    return Promise.resolve(token()).then((value: unknown) => {
      // undefined too: connecting without the token would look like success to a server that allows anonymous users
      if (typeof value !== 'string') {
        throw new TypeError(`the token function returned ${value === null ? 'null' : typeof value}; expected a string (for no token, leave the token option out)`);
      }
      this.#token = value;
    });
  }

  /** A token function gives a fresh token at the next connect: a close with 4419 (token expired) reconnects. */
  get refreshesToken(): boolean {
    return typeof this.#options.token === 'function';
  }

  greeting(context: { config: { maxMessageBytes: number } }): string[] {
    this.#open = true;
    const hello: HelloFrameV2 = {
      type: 'hello',
      v: PROTOCOL_VERSION_2,
      client: this.clientId,
      maxMessageBytes: Math.max(MIN_MESSAGE_BYTES, context.config.maxMessageBytes),
    };
    if (this.#token !== undefined) hello.token = this.#token;
    return [JSON.stringify(hello)];
  }

  // ── inbound ─────────────────────────────────────────────────────────────

  decode(message: unknown, _model: unknown, pending: readonly unknown[]): InboundEvent | InboundEvent[] {
    // A patch, the flood's frame, is checked by `isPatchFrameV2` alone: no result object per frame (issue 15).
    if (isPatchFrameV2(message)) return this.#classify(message, pending);
    const parsed = parseServerFrameV2(message);
    if (!parsed.ok) throw new Error(`not a sync protocol (version 2) frame: ${parsed.problem}`);
    return this.#classify(parsed.frame, pending);
  }

  #classify(frame: ServerFrameV2, pending: readonly unknown[]): InboundEvent | InboundEvent[] {
    switch (frame.type) {
      case 'snapshot': {
        const channel = this.#channel(frame.channel);
        return channel === undefined ? [] : { type: 'message.received', message: frame };
      }
      case 'patch': {
        const channel = this.#channel(frame.channel);
        if (channel === undefined || channel.awaitingSnapshot) return [];
        const last = lastPending(pending, frame.channel);
        const epoch = last === undefined ? channel.epoch : last.epoch;
        const seq = last === undefined ? channel.seq : last.seq;
        // no position: a snapshot is on its way; another epoch always starts with a snapshot
        if (epoch === null || epoch !== frame.epoch || frame.seq <= seq) return [];
        if (frame.seq > seq + 1) {
          forget(channel, pending);
          return { type: 'channel.resync', channel: frame.channel, reason: `gap: expected seq ${seq + 1}, received ${frame.seq}` };
        }
        return { type: 'message.received', message: frame };
      }
      case 'synced': {
        const channel = this.#channels.get(frame.channel);
        if (channel === undefined) return [];
        if (frame.mark !== undefined && frame.mark > channel.lastN) channel.lastN = frame.mark;
        if (channel.markKnown) return this.#synced(channel, frame, pending);
        channel.markKnown = true;
        const marked: InboundEvent = { type: 'channel.marked', channel: channel.name };
        const events = this.#synced(channel, frame, pending);
        return Array.isArray(events) ? [...events, marked] : [events, marked];
      }
      case 'unsubscribed': {
        if (frame.code === undefined) return { type: 'channel.unsubscribed', channel: frame.channel };
        const refused: InboundEvent = { type: 'channel.refused', channel: frame.channel, code: channelCode(frame.code), message: frame.message ?? frame.code };
        if (frame.retryAfterMs !== undefined) refused.retryAfterMs = frame.retryAfterMs;
        return refused;
      }
      case 'ack':
        return { type: 'ack.received', id: opAckId(frame.channel, frame.n) };
      case 'error':
        return this.#error(frame);
      case 'changelog': {
        const request = this.#requests.get(frame.ref);
        if (request !== undefined && request.channel === frame.channel) {
          this.#requests.delete(frame.ref);
          request.resolve({ epoch: frame.epoch, patches: frame.patches, more: frame.more, gap: frame.gap === true });
        }
        return [];
      }
      case 'presence':
      case 'join':
      case 'leave': {
        const channel = this.#channels.get(frame.channel);
        return channel?.presence == null ? [] : { type: 'message.received', message: frame };
      }
      case 'chunk':
        return this.#chunkPiece(frame, pending);
      case 'welcome':
        this.#session = { user: frame.user, maxMessageBytes: frame.maxMessageBytes, time: frame.time };
        return [];
      case 'refresh':
        this.#refresh();
        return [];
      case 'authorized':
        return [];
      case 'pong':
        return { type: 'pong.received' };
    }
  }

  /** A `synced` of a held channel: live, or out of step (`channel.resync`). */
  #synced(channel: ChannelState, frame: Extract<ServerFrameV2, { type: 'synced' }>, pending: readonly unknown[]): InboundEvent | InboundEvent[] {
    // the answer to a subscribe written before a gap: the one written after it comes with a snapshot
    if (channel.awaitingSnapshot && lastPending(pending, frame.channel)?.type !== 'snapshot') return [];
    const last = lastPending(pending, frame.channel);
    const epoch = last === undefined ? channel.epoch : last.epoch;
    const seq = last === undefined ? channel.seq : last.seq;
    if (epoch === frame.epoch && seq === frame.seq) return { type: 'channel.synced', channel: frame.channel };
    forget(channel, pending);
    return {
      type: 'channel.resync',
      channel: frame.channel,
      reason: `out of step: synced at ${frame.epoch}:${frame.seq}, the channel is at ${epoch ?? 'no position'}:${seq}`,
    };
  }

  #error(frame: Extract<ServerFrameV2, { type: 'error' }>): InboundEvent | InboundEvent[] {
    const rejected: InboundEvent = { type: 'message.rejected', code: 'ERR_SERVER_REJECTED', message: `${frame.code}: ${frame.message}` };
    if (frame.ref !== undefined) {
      const request = this.#requests.get(frame.ref);
      if (request !== undefined) {
        this.#requests.delete(frame.ref);
        request.reject(new StatesocketError(opCode(frame.code), `changes on ${request.channel} failed: ${frame.code}: ${frame.message}`));
      }
      return rejected;
    }
    if (frame.channel !== undefined && frame.n !== undefined) {
      // settled: op n will never apply
      return [{ type: 'ack.received', id: opAckId(frame.channel, frame.n), code: opCode(frame.code), message: frame.message }, rejected];
    }
    // an op the server read while it did not hold the channel (its answers to a channel's ops come in
    // order): the oldest op of an ended channel still waiting never applied; of a held channel, the
    // channel's lifecycle decides (a transient refusal resends it behind the next subscribe)
    if (frame.code === 'ERR_NOT_SUBSCRIBED' && frame.channel !== undefined) {
      this.#notSubscribed(frame.channel);
      return [];
    }
    if (frame.code === 'ERR_NOT_SUBSCRIBED') return [];
    if (frame.code === 'ERR_PRESENCE_FORBIDDEN' && frame.channel !== undefined) {
      return { type: 'channel.presence.refused', channel: frame.channel, message: frame.message };
    }
    return rejected;
  }

  /** One piece of a chunked frame; the whole frame's events once the last piece is in. */
  #chunkPiece(piece: ChunkFrame, pending: readonly unknown[]): InboundEvent | InboundEvent[] {
    const current = this.#chunk;
    if (piece.i === 0) {
      this.#chunk = { id: piece.id, channel: piece.channel, count: piece.count, bytes: piece.bytes, parts: [piece.data], length: piece.data.length, dropping: false };
      if (current !== null && !current.dropping) {
        const whole = this.#chunkEnd(pending);
        return [...this.#brokenChunk(current.channel, `chunked frame ${current.id} cut short by frame ${piece.id}`, pending), ...(Array.isArray(whole) ? whole : [whole])];
      }
      if (piece.bytes > this.#maxReassemblyBytes) {
        // dropped whole: the channel fails (the frame would come again, over the bound again); the connection goes on
        this.#chunk.dropping = true;
        this.#chunk.parts = [];
        const message = `a chunked frame of ${piece.bytes} bytes on ${piece.channel} exceeds maxReassemblyBytes (${this.#maxReassemblyBytes}); raise it, or keep the channel's data smaller`;
        if (piece.count === 1) this.#chunk = null;
        return [
          { type: 'message.rejected', code: 'ERR_PAYLOAD_TOO_LARGE', message },
          { type: 'channel.failed', channel: piece.channel, code: 'ERR_PAYLOAD_TOO_LARGE', message },
        ];
      }
      return this.#chunkEnd(pending);
    }
    const same = current !== null && current.id === piece.id && current.channel === piece.channel && current.count === piece.count && current.bytes === piece.bytes;
    if (same && current.dropping) {
      if (piece.i === piece.count - 1) this.#chunk = null;
      return [];
    }
    if (!same || piece.i !== current.parts.length) {
      this.#chunk = null;
      return this.#brokenChunk(current?.channel ?? piece.channel, `piece ${piece.i} of chunked frame ${piece.id} out of order`, pending);
    }
    current.parts.push(piece.data);
    current.length += piece.data.length;
    return this.#chunkEnd(pending);
  }

  /** The whole frame, once every piece of the current chunked frame is in. */
  #chunkEnd(pending: readonly unknown[]): InboundEvent | InboundEvent[] {
    const chunk = this.#chunk;
    if (chunk === null) return [];
    // pieces longer than the frame announced: refused as they come, so a lying count cannot grow the buffer
    if (chunk.length > chunk.bytes) {
      this.#chunk = null;
      return this.#brokenChunk(chunk.channel, `chunked frame ${chunk.id} is longer than the ${chunk.bytes} bytes it announced`, pending);
    }
    if (chunk.parts.length < chunk.count) return [];
    this.#chunk = null;
    const text = chunk.parts.join('');
    const bytes = utf8Length(text);
    if (bytes !== chunk.bytes) return this.#brokenChunk(chunk.channel, `chunked frame ${chunk.id} joined to ${bytes} bytes, announced ${chunk.bytes}`, pending);
    let whole: unknown;
    try {
      whole = JSON.parse(text);
    } catch (error) {
      return this.#brokenChunk(chunk.channel, `chunked frame ${chunk.id} is not JSON: ${error instanceof Error ? error.message : String(error)}`, pending);
    }
    const parsed = parseServerFrameV2(whole);
    if (!parsed.ok) return this.#brokenChunk(chunk.channel, `chunked frame ${chunk.id}: ${parsed.problem}`, pending);
    if (parsed.frame.type === 'chunk' || (parsed.frame as { channel?: unknown }).channel !== chunk.channel) {
      return this.#brokenChunk(chunk.channel, `chunked frame ${chunk.id} is not a frame of ${chunk.channel}`, pending);
    }
    return this.#classify(parsed.frame, pending);
  }

  #brokenChunk(channel: string, why: string, pending: readonly unknown[]): InboundEvent[] {
    const events: InboundEvent[] = [{ type: 'message.rejected', code: 'ERR_MALFORMED_FRAME', message: why }];
    const state = this.#channels.get(channel);
    if (state !== undefined) {
      forget(state, pending);
      events.push({ type: 'channel.resync', channel, reason: why });
    }
    return events;
  }

  applied(message: unknown): void {
    // Only what decode classified as data comes here: snapshots, patches and presence frames it validated.
    const frame = message as { type: string; channel: string; epoch?: string; seq?: number };
    if (frame.type !== 'snapshot' && frame.type !== 'patch') return;
    const channel = this.#channel(frame.channel);
    if (channel === undefined) return;
    channel.epoch = frame.epoch!;
    channel.seq = frame.seq!;
    if (channel.appliesBeforeGap > 0) channel.appliesBeforeGap--;
    else if (frame.type === 'snapshot') channel.awaitingSnapshot = false;
  }

  receiverOf(message: unknown): ChannelReceiver | undefined {
    const frame = message as { type: string; channel: string };
    const channel = this.#channel(frame.channel);
    if (channel === undefined) return undefined;
    return frame.type === 'snapshot' || frame.type === 'patch' ? channel.data : (channel.presence ?? undefined);
  }

  // ── channels ────────────────────────────────────────────────────────────

  open(name: string, data: ChannelReceiver, presence: ChannelReceiver | null): void {
    const channel = new ChannelState(name, data, presence);
    // numbering goes on above every number this client used on the channel
    const before = this.#channels.get(name) ?? this.#numbering.get(name);
    channel.lastN = before?.lastN ?? 0;
    channel.markKnown = before?.markKnown ?? !this.#storedId;
    this.#numbering.delete(name);
    this.#channels.set(name, channel);
    this.#lastChannel = null;
  }

  release(name: string): void {
    const channel = this.#channels.get(name);
    if (channel === undefined) return;
    // its frames are dropped from now on; the numbering is kept for a later subscribe of the same channel
    this.#numbering.set(name, { lastN: channel.lastN, markKnown: channel.markKnown });
    this.#channels.delete(name);
    this.#lastChannel = null;
  }

  modelRejected(name: string, pending: readonly unknown[] = []): void {
    const channel = this.#channels.get(name);
    if (channel === undefined) return;
    // The Model holds neither the message nor, maybe, a state the next patch fits: its patches drop
    // (a gap would resubscribe at once) until the fresh snapshot the next subscribe asks for. After
    // a throw the rest of the read is classified again by the connection (nothing pending); a
    // schema's refusal comes at decode, before the messages of the read decoded ahead of it apply.
    forget(channel, pending);
  }

  /** The last op number of channels released, and whether their mark is known, for when they are held again. */
  readonly #numbering = new Map<string, { lastN: number; markKnown: boolean }>();

  subscribeFrame(name: string, outbox: readonly OutboxEntry[]): string {
    const channel = this.#channels.get(name);
    this.#refusedWrites.delete(name);
    const frame: SubscribeFrame = { type: 'subscribe', channel: name };
    // written after the read that found the gap was applied: the next snapshot is the one this subscribe brings
    if (channel !== undefined) channel.appliesBeforeGap = 0;
    if (channel !== undefined && channel.epoch !== null && !channel.awaitingSnapshot) {
      frame.epoch = channel.epoch;
      frame.since = channel.seq;
    }
    if (channel?.presence != null) frame.presence = true;
    // every op numbered at or below `acked` has had its answer: the lowest unanswered one, less one
    let acked = channel?.lastN ?? 0;
    for (const entry of outbox) {
      if (entry.channel === name && entry.ackId !== undefined && entry.awaitsMark !== true) acked = Math.min(acked, nOf(entry.ackId) - 1);
    }
    if (acked > 0) frame.acked = acked;
    return JSON.stringify(frame);
  }

  unsubscribeFrame(name: string): string {
    return JSON.stringify({ type: 'unsubscribe', channel: name });
  }

  encodeOp(name: string, op: unknown): { frame: string; ackId: string; n: number; awaitsMark?: true } {
    if (typeof op !== 'object' || op === null) {
      throw new TypeError(`sync protocol: send() takes an op {set?, delete?}; received ${JSON.stringify(op)?.slice(0, 80) ?? typeof op}`);
    }
    const channel = this.#channels.get(name);
    const awaitsMark = channel !== undefined && !channel.markKnown;
    const n = awaitsMark ? PLACEHOLDER_N : (channel?.lastN ?? 0) + 1;
    const { set, delete: deleted } = op as { set?: unknown; delete?: unknown };
    const frame: Record<string, unknown> = { type: 'op', channel: name, n };
    if (set !== undefined) frame.set = set;
    if (deleted !== undefined) frame.delete = deleted;
    const parsed = parseClientFrameV2(frame);
    if (!parsed.ok) throw new TypeError(`sync protocol: invalid op: ${parsed.problem}`);
    if (set === undefined && deleted === undefined) throw new TypeError('sync protocol: invalid op: it has neither set nor delete (an empty op changes nothing)');
    // The server's value rule, as version 1 checks it: JSON.stringify would turn NaN into null and a Date into a string.
    const values = checkChanges(frame, CLIENT_VALUE_LIMITS);
    if (!values.ok) throw new TypeError(`sync protocol: invalid op on ${JSON.stringify(name)}: ${values.problem}; nothing was sent`);
    if (awaitsMark) return { frame: JSON.stringify(frame), ackId: unnumberedId(name, ++this.#unnumbered), n, awaitsMark };
    if (channel !== undefined) channel.lastN = n;
    return { frame: JSON.stringify(frame), ackId: opAckId(name, n), n };
  }

  numberOp(name: string, frame: Frame, ackId: string): { frame: string; ackId: string } {
    const channel = this.#channels.get(name) ?? this.#numbering.get(name);
    const n = (channel?.lastN ?? 0) + 1;
    if (channel !== undefined) channel.lastN = n;
    const op = JSON.parse(frame as string) as { n: number };
    op.n = n;
    const numbered = opAckId(name, n);
    const waiting = this.#ops.get(ackId);
    if (waiting !== undefined) {
      this.#ops.delete(ackId);
      this.#ops.set(numbered, waiting);
    }
    return { frame: JSON.stringify(op), ackId: numbered };
  }

  abandonOps(name: string, outbox: readonly OutboxEntry[], code: ErrorCode, message?: string): void {
    let refused = this.#refusedWrites.get(name) ?? 0;
    this.#refusedWrites.delete(name);
    for (const entry of outbox) {
      if (entry.channel !== name || entry.ackId === undefined) continue;
      const resend = typeof entry.frame === 'string' && entry.frame.startsWith(RESEND_PREFIX);
      if (!entry.sent || entry.awaitsMark === true) this.settle(entry.ackId, code, message);
      else if (!this.#open) this.settle(entry.ackId, 'ERR_OP_UNCONFIRMED', UNCONFIRMED_LOST);
      else if (refused > 0) {
        // already answered ERR_NOT_SUBSCRIBED on this socket (a transient refusal): this write never applied
        refused--;
        this.#settleRefused(entry.ackId, resend, code, message);
      } else {
        const orphans = this.#orphans.get(name);
        const orphan = { ackId: entry.ackId, code, message, resend };
        if (orphans === undefined) this.#orphans.set(name, [orphan]);
        else orphans.push(orphan);
      }
    }
  }

  /** A write answered ERR_NOT_SUBSCRIBED: never applied, unless an earlier write of it (a resend's) may have. */
  #settleRefused(ackId: string, resend: boolean, code: ErrorCode, message: string | undefined): void {
    if (resend) this.settle(ackId, 'ERR_OP_UNCONFIRMED', `${UNCONFIRMED_LOST}; its resend found the channel unsubscribed`);
    else this.settle(ackId, code, message);
  }

  #notSubscribed(name: string): void {
    const orphans = this.#orphans.get(name);
    const oldest = orphans?.shift();
    if (orphans !== undefined && orphans.length === 0) this.#orphans.delete(name);
    if (oldest !== undefined) return this.#settleRefused(oldest.ackId, oldest.resend, oldest.code, oldest.message);
    if (this.#channels.has(name)) this.#refusedWrites.set(name, (this.#refusedWrites.get(name) ?? 0) + 1);
  }

  /** Every op waiting for an answer on a socket that went, or on a stopped connection: it may have applied. */
  #failOrphans(why: string): void {
    const orphans = [...this.#orphans.values()].flat();
    this.#orphans.clear();
    for (const orphan of orphans) this.settle(orphan.ackId, 'ERR_OP_UNCONFIRMED', why);
  }

  /**
   * A settled op is no orphan any more: left in the list, an acked one would take the next
   * `ERR_NOT_SUBSCRIBED` of its channel, which answers a later op (issue 13, t32-stale-orphan).
   */
  #forgetOrphan(ackId: string): void {
    const name = ackId.slice(0, ackId.lastIndexOf(' '));
    const orphans = this.#orphans.get(name);
    if (orphans === undefined) return;
    const index = orphans.findIndex((orphan) => orphan.ackId === ackId);
    if (index < 0) return;
    orphans.splice(index, 1);
    if (orphans.length === 0) this.#orphans.delete(name);
  }

  connectionStopped(outbox: readonly OutboxEntry[]): void {
    const why = 'the connection was stopped before its answer; it may or may not have applied';
    for (const entry of outbox) {
      if (entry.ackId === undefined) continue;
      if (!entry.sent || entry.awaitsMark === true) this.settle(entry.ackId, 'ERR_STOPPED', 'the connection was stopped before it was written; it never applies');
      else this.settle(entry.ackId, 'ERR_OP_UNCONFIRMED', why);
    }
    this.#failOrphans(why);
    this.sessionEnded();
  }

  asResend(frame: Frame): Frame {
    if (typeof frame !== 'string' || frame.startsWith(RESEND_PREFIX)) return frame;
    return `${RESEND_PREFIX}${this.#session?.time ?? 0},${frame.slice(1)}`;
  }

  waitFor(ackId: string): Promise<void> {
    const { promise, settle } = quietPromise<void>();
    this.#ops.set(ackId, settle);
    return promise;
  }

  settle(ackId: string, code?: ErrorCode, message?: string): void {
    this.#forgetOrphan(ackId);
    const waiting = this.#ops.get(ackId);
    if (waiting === undefined) return;
    this.#ops.delete(ackId);
    if (code === undefined) return waiting.resolve();
    const space = ackId.lastIndexOf(' ');
    const verdict = code === 'ERR_OP_UNCONFIRMED' ? 'is unconfirmed' : 'was refused';
    waiting.reject(new StatesocketError(code, `op ${ackId.slice(space + 1)} on ${ackId.slice(0, space)} ${verdict}: ${code}${message ? `: ${message}` : ''}`));
  }

  request(name: string, since: number | undefined, limit: number): { frame: string; answer: Promise<ChangelogPage> } {
    const ref = this.#nextRef++;
    const frame: Record<string, unknown> = { type: 'changes', channel: name, ref, limit };
    if (since !== undefined) {
      frame.since = since;
      const channel = this.#channels.get(name);
      if (channel?.epoch != null) frame.epoch = channel.epoch;
    }
    const { promise, settle } = quietPromise<ChangelogPage>();
    this.#requests.set(ref, { ...settle, channel: name });
    return { frame: JSON.stringify(frame), answer: promise };
  }

  attach(write: (frame: string) => void, failed: (code: ErrorCode, message: string) => void): void {
    this.#write = write;
    this.#failed = failed;
  }

  /**
   * The server's `refresh`: the token function gives a fresh token, sent as `auth` on the same
   * socket (docs/protocol.md, "Token refresh"). With a fixed token there is nothing to send:
   * the server closes with 4419 at the expiry, which is final for a fixed token.
   */
  #refresh(): void {
    const { token } = this.#options;
    if (typeof token !== 'function') return;
    const session = this.#sessions;
    Promise.resolve()
      .then(() => token())
      .then(
        (value) => {
          if (typeof value !== 'string') {
            this.#failed?.('ERR_GREETING_FAILED', `the token function returned ${value === null ? 'null' : typeof value} on refresh; expected a string`);
            return;
          }
          this.#token = value;
          if (session === this.#sessions) this.#write?.(JSON.stringify({ type: 'auth', token: value }));
        },
        // no fresh token: the server closes with 4419 at the expiry, and the reconnect calls the function again
        (error: unknown) =>
          this.#failed?.('ERR_GREETING_FAILED', `the token function failed on refresh: ${error instanceof Error ? error.message : String(error)}`),
      );
  }

  sessionEnded(): void {
    this.#open = false;
    this.#refusedWrites.clear();
    this.#failOrphans(UNCONFIRMED_LOST);
    this.#sessions++;
    this.#chunk = null;
    this.#session = null;
    for (const [ref, request] of this.#requests) {
      this.#requests.delete(ref);
      request.reject(new StatesocketError('ERR_NOT_SUBSCRIBED', `changes on ${request.channel}: the connection was lost before the answer; ask again once the channel is subscribed`));
    }
  }

  positionOf(name: string): { epoch: string; seq: number } | null {
    const channel = this.#channels.get(name);
    return channel === undefined || channel.epoch === null ? null : { epoch: channel.epoch, seq: channel.seq };
  }

  // ── the connection's own ops (the default channel) ──────────────────────

  encode(message: unknown): { frame: string; ackId?: string; channel?: string; awaitsMark?: true } {
    if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ping') return { frame: PING };
    if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'op') {
      const { frame, ackId, awaitsMark } = this.encodeOp(DEFAULT_CHANNEL, message);
      return awaitsMark ? { frame, ackId, channel: DEFAULT_CHANNEL, awaitsMark } : { frame, ackId, channel: DEFAULT_CHANNEL };
    }
    throw new TypeError(
      `sync protocol: send() takes {type: 'op', set?, delete?} (or a ping); received ${JSON.stringify(message)?.slice(0, 80) ?? typeof message}`,
    );
  }
}

/** Forgets the channel's position (a gap, an out-of-step `synced`, a broken chunked frame): patches drop until a snapshot. */
function forget(channel: ChannelState, pending: readonly unknown[]): void {
  channel.awaitingSnapshot = true;
  let before = 0;
  for (const message of pending) {
    const { channel: name, type } = message as { channel: string; type: string };
    if (name === channel.name && (type === 'snapshot' || type === 'patch')) before++;
  }
  channel.appliesBeforeGap = before;
}

/** The last snapshot or patch of `channel` among the messages of the read not yet applied. */
function lastPending(pending: readonly unknown[], channel: string): { type: string; epoch: string; seq: number } | undefined {
  for (let i = pending.length - 1; i >= 0; i--) {
    const message = pending[i] as { type: string; channel: string; epoch: string; seq: number };
    if (message.channel === channel && (message.type === 'snapshot' || message.type === 'patch')) return message;
  }
  return undefined;
}

/** Checks the options of version 2; throws a `TypeError`/`RangeError` naming the option. */
export function checkV2Options(options: ChannelProtocolOptions): void {
  if (options.clientId !== undefined && !isClientId(options.clientId)) {
    throw new TypeError(`statesocket: createChannelProtocol option \`clientId\` must be ${NAME_RULE}; received ${JSON.stringify(options.clientId)}`);
  }
  if (options.token !== undefined && typeof options.token !== 'string' && typeof options.token !== 'function') {
    throw new TypeError(`statesocket: createChannelProtocol option \`token\` must be a string or a function; received ${typeof options.token}`);
  }
  const max = options.maxReassemblyBytes;
  if (max !== undefined && !(Number.isSafeInteger(max) && max >= MIN_MESSAGE_BYTES)) {
    throw new RangeError(`statesocket: createChannelProtocol option \`maxReassemblyBytes\` must be a whole number >= ${MIN_MESSAGE_BYTES}; received ${String(max)}`);
  }
  if (options.defaultChannel !== undefined && typeof options.defaultChannel !== 'boolean') {
    throw new TypeError(`statesocket: createChannelProtocol option \`defaultChannel\` must be true or false; received ${typeof options.defaultChannel}`);
  }
}

/**
 * The sync protocol's version 2: channels over one connection (docs/channels.md). One object may
 * serve any number of connections: each gets its own client id and channels.
 *
 * @example
 * const connection = createConnection({ url, protocol: createChannelProtocol({ token: async () => fetchToken() }) });
 * const notes = connection.channel('notes', { presence: true });
 * await notes.send({ set: { title: 'x' } });
 * @throws TypeError or RangeError naming an option that is wrong
 */
export function createChannelProtocol<T = StoreData>(options: ChannelProtocolOptions = {}): Protocol<T, SyncOutbound> & { readonly channels: ChannelSupport } {
  checkV2Options(options);
  return new SyncProtocolV2<T>({ ...options }, options.clientId ?? newClientId());
}

