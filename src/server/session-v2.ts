/**
 * Version 2 sessions (docs/protocol.md): the greeting, subscribe and unsubscribe, ops numbered
 * per client and channel with marks, `changes`, token refresh, presence, and the end of a
 * session. Frames are handled one at a time, in order; every answer about a channel goes out
 * through the session's `Outgoing`, in that channel's order.
 *
 * ```
 *   subscribe ──▶ name? rate? limit? allowed? loadable? ──▶ no: unsubscribed {code, retryAfterMs?}
 *                 yes: hold it ──▶ replay (position in the log) or snapshot ──▶ synced {mark?} ──▶ presence list
 *   op ──▶ held? ──▶ may publish? value rule (on the followed copy) ──▶ no: engine.refuse
 *          ──▶ engine.append: n ≤ mark? the first answer again; forgotten client? refused;
 *                             over the data limit? refused (recorded); else applied
 *          ──▶ patch to every holder (through the followed copy) ──▶ ack
 * ```
 *
 * Every step that asks the engine returns its answer (a value, or a promise: engine.ts); the
 * server keeps later frames of the same channel waiting meanwhile (sync-server.ts, "lanes"), so
 * one client's ops on one channel are appended one at a time, in order, and acked in order.
 */
import { isWholeNumber } from '../sync/frame-check.js';
import type { HelloFrameV2 } from '../sync/messages-v2.js';
import { DEFAULT_V2_LIMITS, ErrorCodeV2, MAX_NAME_LENGTH, SyncCloseCodeV2, isChannelName, parseClientFrameV2, type ChangesFrame, type SubscribeFrame } from '../sync/messages-v2.js';
import type { Channel, LogEntry } from './channel.js';
import type { Answer, DuplicateAnswer, OpMark } from './engine.js';
import { markKey } from './marks.js';
import { presenceFrame } from './presence.js';
import { caughtUp, refusedWho, type Identity, type LiveSession, type ServerContext, type Subscription } from './session.js';

/** Longest `message` of an error frame: every frame but the large kinds stays within 4096 bytes. */
const MAX_MESSAGE = 1000;
/** How long a client waits after `ERR_CHANNEL_UNAVAILABLE` before it subscribes again. */
export const CHANNEL_UNAVAILABLE_RETRY_MS = 5_000;

function fit(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
}

const isPositive = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;

export function createV2Sessions(ctx: ServerContext) {
  const { counters, limits } = ctx;

  // ── greeting and tokens ──

  function scheduleExpiry(session: LiveSession): void {
    ctx.clearTimeout(session.refreshTimer);
    ctx.clearTimeout(session.expiryTimer);
    session.refreshTimer = session.expiryTimer = undefined;
    const expiresAt = session.identity?.expiresAt;
    if (expiresAt === undefined) return;
    const refresh = () => {
      session.refreshTimer = undefined;
      ctx.send(session, { type: 'refresh', expiresAt, expiresInMs: Math.max(0, expiresAt - ctx.now()) });
    };
    const refreshIn = expiresAt - limits.refreshBeforeMs - ctx.now();
    if (refreshIn <= 0) refresh();
    else session.refreshTimer = ctx.setTimeout(refresh, refreshIn);
    session.expiryTimer = ctx.setTimeout(() => {
      session.expiryTimer = undefined;
      counters.tokenExpiries++;
      ctx.drop(session, SyncCloseCodeV2.TOKEN_EXPIRED, 'token expired; reconnect with a fresh one');
    }, Math.max(0, expiresAt - ctx.now()));
  }

  function greet(session: LiveSession, hello: HelloFrameV2): Answer<void> {
    if (!ctx.helloAllowed(session)) return;
    if (!ctx.judgeHelloToken(session, hello.token)) return;
    const identity = session.identity!;
    // A client id names one user: another user's hello with it is refused, the owner untouched.
    return ctx.step(session, () => ctx.engine.claimClient(hello.client, identity.user, ctx.time()), (mine) => {
      if (!mine) {
        counters.clientIdsRefused++;
        return ctx.drop(session, SyncCloseCodeV2.CLIENT_ID_TAKEN, 'client id belongs to another user; connect with a fresh client id');
      }
      welcome(session, hello, identity);
    });
  }

  function welcome(session: LiveSession, hello: HelloFrameV2, identity: Identity): void {
    const key = markKey(identity.user, hello.client);
    const older = ctx.clients.get(key);
    if (older !== undefined && older !== session) {
      counters.clientsReplaced++;
      ctx.drop(older, SyncCloseCodeV2.CLIENT_REPLACED, 'client id taken over by a newer connection');
    }
    session.version = 2;
    session.client = hello.client;
    session.key = key;
    session.out.maxMessageBytes = hello.maxMessageBytes ?? DEFAULT_V2_LIMITS.maxMessageBytes;
    session.welcomeTime = ctx.time();
    ctx.clients.set(key, session);
    session.info.onGreeted?.();
    ctx.send(session, {
      type: 'welcome',
      v: 2,
      client: hello.client,
      user: identity.user,
      maxMessageBytes: limits.maxPayloadBytes,
      time: session.welcomeTime,
      ...ctx.expiryFields(identity),
    });
    scheduleExpiry(session);
  }

  function auth(session: LiveSession, token: string): void {
    // Each auth re-checks every held channel: bounded like hellos (docs/protocol.md, "Limits").
    const now = ctx.now();
    if (session.auths === 0 || now - session.authWindowStart >= 60_000 || now < session.authWindowStart) {
      session.auths = 0;
      session.authWindowStart = now;
    }
    if (++session.auths > limits.maxHellosPerMinute) {
      counters.helloFloods++;
      return ctx.drop(session, SyncCloseCodeV2.TRY_AGAIN_LATER, `too many auth frames (over ${limits.maxHellosPerMinute} a minute); try again later`);
    }
    if (!ctx.authRequired) {
      counters.tokenRefreshes++;
      return ctx.send(session, { type: 'authorized', user: null });
    }
    const identity = ctx.authenticate(token);
    if (identity === null) {
      counters.authFailures++;
      return ctx.drop(session, SyncCloseCodeV2.UNAUTHORIZED, 'invalid token');
    }
    if (identity.expiresAt !== undefined && identity.expiresAt <= ctx.now()) {
      counters.tokenExpiries++;
      return ctx.drop(session, SyncCloseCodeV2.TOKEN_EXPIRED, 'the token sent with auth has expired');
    }
    if (identity.user !== session.identity?.user) {
      return ctx.drop(session, SyncCloseCodeV2.UNAUTHORIZED, 'the token names another user; reconnect to change users');
    }
    session.identity = identity;
    counters.tokenRefreshes++;
    ctx.send(session, { type: 'authorized', user: identity.user, ...ctx.expiryFields(identity) });
    scheduleExpiry(session);
    // Re-check every channel held: the new token may allow less.
    for (const sub of [...session.subs.values()]) {
      const name = sub.channel.name;
      if (!ctx.authorize(identity, name, 'subscribe')) {
        endSubscription(sub, 'on purpose');
        sendUnsubscribed(session, name, ErrorCodeV2.CHANNEL_FORBIDDEN, `the new token may not subscribe to ${name}`);
        continue;
      }
      if (sub.presence && !ctx.authorize(identity, name, 'presence')) {
        leavePresence(sub);
        channelError(session, sub.channel, ErrorCodeV2.PRESENCE_FORBIDDEN, `the new token may not use presence on ${name}; the subscription stands without it`);
      }
    }
  }

  // ── frames ──

  function channelError(session: LiveSession, channel: Channel, code: string, message: string, extra = ''): void {
    counters.rejectedFrames++;
    const text = `{"type":"error","code":"${code}","message":${JSON.stringify(fit(message))},"channel":${channel.quotedName}${extra}}`;
    session.out.send(channel.name, text);
  }

  function sendUnsubscribed(session: LiveSession, name: string, code?: string, message?: string, retryAfterMs?: number): void {
    const frame: Record<string, unknown> = { type: 'unsubscribed', channel: name.length > MAX_NAME_LENGTH ? name.slice(0, MAX_NAME_LENGTH) : name };
    if (code !== undefined) {
      counters.subscribesRefused++;
      frame.code = code;
      frame.message = fit(message ?? code);
      if (retryAfterMs !== undefined) frame.retryAfterMs = retryAfterMs;
    }
    // Behind every frame of the channel still waiting: none comes after it.
    session.out.send(isChannelName(name) ? name : undefined, JSON.stringify(frame));
  }

  /** A subscription ends: on purpose (its member leaves at once) or with its connection (grace). */
  function endSubscription(sub: Subscription, how: 'on purpose' | 'connection'): void {
    const { session, channel } = sub;
    channel.subscribers.delete(sub);
    sub.live = false;
    session.subs.delete(channel.name);
    counters.subscriptions--;
    if (sub.presence) {
      sub.presence = false;
      const { engine } = ctx;
      ctx.quietly(() => (how === 'on purpose' ? engine.leave(channel.name, sub.memberKey, sub.holder) : engine.detach(channel.name, sub.memberKey, sub.holder, limits.presenceGraceMs)));
    }
    ctx.released(channel);
  }

  /** The subscription stops being a member (and seeing members). */
  function leavePresence(sub: Subscription): void {
    if (!sub.presence) return;
    sub.presence = false;
    ctx.quietly(() => ctx.engine.leave(sub.channel.name, sub.memberKey, sub.holder));
  }

  /** Counts a subscribe of `name`; the wait before the next one is allowed, or 0 when this one is. */
  function rateLimited(session: LiveSession, name: string): number {
    const now = ctx.now();
    const map = session.subscribeTimes;
    let times = map.get(name);
    // Most recently subscribed last; bounded by maxChannelsPerConnection names (the least recently
    // subscribed forgotten first), so a flood of names cannot grow it.
    if (times !== undefined) map.delete(name);
    else if (map.size >= limits.maxChannelsPerConnection) map.delete(map.keys().next().value as string);
    map.set(name, (times ??= []));
    while (times.length > 0 && now - (times[0] as number) >= 60_000) times.shift();
    if (times.length >= limits.maxSubscribesPerMinute) return Math.max(1, 60_000 - (now - (times[0] as number)));
    times.push(now);
    return 0;
  }

  function subscribe(session: LiveSession, frame: SubscribeFrame): Answer<void> {
    const name = frame.channel;
    const identity = session.identity as Identity;
    const held = session.subs.get(name);
    const wait = rateLimited(session, name);
    if (wait > 0) {
      if (held !== undefined) endSubscription(held, 'on purpose');
      return sendUnsubscribed(session, name, ErrorCodeV2.RATE_LIMITED, `more than ${limits.maxSubscribesPerMinute} subscribes of ${name} in a minute; subscribe again later`, wait);
    }
    if (held === undefined && session.subs.size >= limits.maxChannelsPerConnection) {
      return sendUnsubscribed(session, name, ErrorCodeV2.CHANNEL_LIMIT, `this connection holds ${limits.maxChannelsPerConnection} channels (maxChannelsPerConnection); unsubscribe one first`);
    }
    if (!ctx.authorize(identity, name, 'subscribe')) {
      if (held !== undefined) endSubscription(held, 'on purpose');
      return sendUnsubscribed(session, name, ErrorCodeV2.CHANNEL_FORBIDDEN, `${refusedWho(identity)} may not subscribe to ${name}`);
    }
    const channel = held?.channel ?? ctx.channel(name);
    return ctx.step(session, () => ctx.load(channel), (loaded) => {
      if (!loaded) {
        return sendUnsubscribed(session, name, ErrorCodeV2.CHANNEL_UNAVAILABLE, 'the server holds as many channels as it may (maxChannelsInMemory), none of them idle; subscribe again later', CHANNEL_UNAVAILABLE_RETRY_MS);
      }
      let sub = session.subs.get(name);
      if (sub === undefined) {
        sub = {
          session,
          channel,
          presence: false,
          memberKey: session.key,
          holder: '',
          live: false,
          deliver: (text, bytes, bulk) => void session.out.send(name, text, bytes, bulk === true),
        };
        session.subs.set(name, sub);
        counters.subscriptions++;
        ctx.hold(channel);
      }
      const subscribed = sub;
      return ctx.step(session, () => ctx.engine.subscribed(name, session.key, frame.acked, ctx.time()), (mark) => sendData(subscribed, frame, mark));
    });
  }

  /**
   * The data of a subscribe: replay when the copy's log covers the position (or, with the
   * engine's older entries, `readLog`, within a document's worth of bytes), else a snapshot.
   */
  function sendData(sub: Subscription, frame: SubscribeFrame, mark: number | undefined): Answer<void> {
    const { session, channel } = sub;
    if (session.subs.get(channel.name) !== sub) return;
    const since = frame.since;
    if (channel.loaded && since !== undefined && frame.epoch === channel.epoch && since > channel.seq) {
      // Ahead of this copy in its epoch: the client came from another instance that had followed
      // further. Replay once the copy has those entries; a snapshot now would take it back.
      return ctx.step(session, () => caughtUp(ctx, channel, frame.epoch as string, since), (reached) => (reached ? sendData(sub, frame, mark) : synced(sub, frame, mark, undefined)));
    }
    if (!channel.loaded || channel.canReplay(frame.epoch, since) || since === undefined || frame.epoch !== channel.epoch) {
      return synced(sub, frame, mark, undefined);
    }
    const epoch = channel.epoch as string;
    return ctx.step(session, () => ctx.engine.readLog(channel.name, epoch, since), (entries) => synced(sub, frame, mark, entries === undefined ? undefined : channel.olderPatches(epoch, since, entries)));
  }

  /** Sends replay (the copy's log, after `older` when given) or a snapshot, then `synced`, then presence: all at once. */
  function synced(sub: Subscription, frame: SubscribeFrame, mark: number | undefined, older: LogEntry[] | undefined): Answer<void> {
    const { session, channel } = sub;
    const name = channel.name;
    if (session.subs.get(name) !== sub) return;
    if (!channel.loaded) {
      endSubscription(sub, 'on purpose');
      return sendUnsubscribed(session, name, ErrorCodeV2.CHANNEL_UNAVAILABLE, 'the channel was unloaded; subscribe again later', CHANNEL_UNAVAILABLE_RETRY_MS);
    }
    // From here on the subscription gets every patch: its data and the patches that follow it.
    if (!sub.live) {
      sub.live = true;
      channel.subscribers.add(sub);
    }
    if (older !== undefined || channel.canReplay(frame.epoch, frame.since)) {
      counters.replays++;
      for (const entry of older ?? []) if (!session.out.send(name, entry.text, entry.bytes)) return;
      const from = older === undefined ? channel.indexAfter(frame.since as number) : 0;
      for (let i = from; i < channel.logLength; i++) {
        const entry = channel.logAt(i);
        if (!session.out.send(name, entry.text, entry.bytes)) return;
      }
    } else {
      counters.snapshotsSent++;
      const snapshot = channel.snapshot();
      if (!session.out.send(name, snapshot.text, snapshot.bytes, true)) return;
    }
    const text = `{"type":"synced","channel":${channel.quotedName},"epoch":"${channel.epoch}","seq":${channel.seq}${mark === undefined ? '' : `,"mark":${mark}`}}`;
    if (!session.out.send(name, text)) return;
    // Presence: seeing and being seen go together.
    const identity = session.identity as Identity;
    if (frame.presence !== true) return leavePresence(sub);
    if (!ctx.authorize(identity, name, 'presence')) {
      leavePresence(sub);
      return channelError(session, channel, ErrorCodeV2.PRESENCE_FORBIDDEN, `${refusedWho(identity)} may not use presence on ${name}; the subscription stands without it`);
    }
    sub.presence = true;
    if (sub.holder === '') sub.holder = ctx.newHolder();
    const member = identity.info === undefined ? { key: session.key, client: session.client, user: identity.user } : { key: session.key, client: session.client, user: identity.user, info: identity.info };
    return ctx.step(session, () => ctx.engine.join(name, member, sub.holder, ctx.time()), () => {
      if (session.subs.get(name) === sub) session.out.send(name, presenceFrame(channel), undefined, false);
    });
  }

  function unsubscribe(session: LiveSession, name: string): void {
    const sub = session.subs.get(name);
    if (sub !== undefined) endSubscription(sub, 'on purpose');
    sendUnsubscribed(session, name);
  }

  /**
   * Refuses op `mark.n` for good: the engine records the refusal (raising the mark) before the
   * error goes out, unless the op is a duplicate (its first answer goes out) or its client was
   * forgotten (`ERR_CLIENT_FORGOTTEN`). On a channel that stores nothing, a publish refusal is not
   * recorded (`keepOffEmpty`: a subscriber who may not publish leaves nothing behind), nor is any
   * refusal once `maxStoredChannels` are stored (the op gets `ERR_STORAGE_FULL` then): a resend
   * is judged again, and a mark made later starts its floor below its first op, so such an op is
   * never acked (docs/protocol.md, "Refusals on a channel that stores nothing").
   */
  function refuseOp(session: LiveSession, channel: Channel, mark: OpMark, code: string, message: string): Answer<void> {
    const keepOffEmpty = code === ErrorCodeV2.PUBLISH_FORBIDDEN;
    return ctx.step(session, () => ctx.engine.refuse(channel.name, code, { mark, keepOffEmpty }), (result) => {
      if (result.status === 'duplicate') return answerDuplicate(session, channel, mark.n, result.answer);
      if (result.status === 'full') return storageFull(session, channel, mark.n);
      if (result.status !== 'refused') return;
      if (result.code === ErrorCodeV2.CLIENT_FORGOTTEN) return forgottenResend(session, channel, mark.n);
      counters.opsRefused++;
      channelError(session, channel, result.code, message, `,"n":${mark.n}`);
    });
  }

  function forgottenResend(session: LiveSession, channel: Channel, n: number): void {
    counters.opsRefused++;
    counters.opsForgotten++;
    channelError(
      session,
      channel,
      ErrorCodeV2.CLIENT_FORGOTTEN,
      `op ${n} is a resend from a client this channel has forgotten: it may or may not have been applied; send the change again as a new op if it is still wanted`,
      `,"n":${n}`,
    );
  }

  /** Op `n` at or below its mark: its first answer again. */
  function answerDuplicate(session: LiveSession, channel: Channel, n: number, answer: DuplicateAnswer): void {
    if (answer.kind === 'ack') {
      counters.opsDuplicate++;
      return void session.out.send(channel.name, `{"type":"ack","channel":${channel.quotedName},"n":${n}}`);
    }
    counters.opsRefused++;
    if (answer.kind === 'refusal') return channelError(session, channel, answer.code, `op ${n} was refused before (${answer.code})`, `,"n":${n}`);
    counters.opsForgotten++;
    channelError(session, channel, ErrorCodeV2.CLIENT_FORGOTTEN, `op ${n} may or may not have been applied: the server no longer keeps its answer`, `,"n":${n}`);
  }

  function storageFull(session: LiveSession, channel: Channel, n: number): void {
    counters.opsRefused++;
    channelError(session, channel, ErrorCodeV2.STORAGE_FULL, `op ${n} would store channel ${channel.name}, and the server stores as many channels as it may (maxStoredChannels); it was not applied`, `,"n":${n}`);
  }

  /**
   * An op, in the order of docs/protocol.md ("Marks and duplicates"): its channel, `n` and
   * `re`; the channel held; publishing; the value rule (on the followed copy); then the engine's
   * one step (a duplicate or a forgotten client answered, the data limit judged, or applied), the
   * patch to every holder, the ack. Its changes are judged on the raw value.
   */
  function receiveOp(session: LiveSession, value: Record<string, unknown>): Answer<void> {
    const { channel: name, n, re } = value;
    if (typeof name === 'string' && !isChannelName(name)) {
      counters.rejectedFrames++;
      return ctx.send(session, { type: 'error', code: ErrorCodeV2.INVALID_CHANNEL, message: fit(`op.channel: not a channel name (${JSON.stringify(String(name).slice(0, 140))}); the op was not applied`) });
    }
    if (typeof name !== 'string' || !isPositive(n) || (re !== undefined && !isWholeNumber(re))) {
      const parsed = parseClientFrameV2(value);
      return ctx.reject(session, ErrorCodeV2.INVALID_FRAME, fit(parsed.ok ? 'invalid op' : parsed.problem));
    }
    const sub = session.subs.get(name);
    if (sub === undefined) {
      counters.rejectedFrames++;
      // In the channel's order: behind its refusal, if that waits behind a chunked frame.
      return void session.out.send(name, JSON.stringify({ type: 'error', code: ErrorCodeV2.NOT_SUBSCRIBED, message: `op ${n}: this connection does not hold ${name}; subscribe, then send it again`, channel: name }));
    }
    const channel = sub.channel;
    const identity = session.identity as Identity;
    const mark: OpMark = { key: session.key, owner: identity.user ?? session.owner, n, at: ctx.time() };
    if (re !== undefined) mark.re = re as number;
    if (!ctx.authorize(identity, name, 'publish')) {
      return refuseOp(session, channel, mark, ErrorCodeV2.PUBLISH_FORBIDDEN, `${refusedWho(identity)} may not publish on ${name}`);
    }
    const checked = channel.validate(value);
    if (Array.isArray(checked)) return refuseOp(session, channel, mark, checked[0], checked[1]);
    return ctx.step(session, () => ctx.append(channel, checked, { mark }), (result) => {
      switch (result.status) {
        case 'applied':
          counters.opsApplied++;
          ctx.onApply?.(`${name} ${session.client} ${n}`);
          return ctx.ackAfterDelivery(session, channel, result.epoch, result.seq, () => session.out.send(name, `{"type":"ack","channel":${channel.quotedName},"n":${n}}`));
        case 'duplicate':
          return answerDuplicate(session, channel, n, result.answer);
        case 'forgotten':
          return forgottenResend(session, channel, n);
        case 'tooLarge':
          counters.opsRefused++;
          return channelError(session, channel, ErrorCodeV2.DATA_LIMIT, channel.tooLargeMessage(result.bytes), `,"n":${n}`);
        case 'full':
          return storageFull(session, channel, n);
        case 'deferred':
          return; // version 1 only
      }
    });
  }

  function changes(session: LiveSession, frame: ChangesFrame): void {
    const sub = session.subs.get(frame.channel);
    if (sub === undefined) {
      counters.rejectedFrames++;
      const refusal = { type: 'error', code: ErrorCodeV2.NOT_SUBSCRIBED, message: `changes: this connection does not hold ${frame.channel}; subscribe first`, channel: frame.channel, ref: frame.ref };
      return void session.out.send(frame.channel, JSON.stringify(refusal));
    }
    const channel = sub.channel;
    const length = channel.logLength;
    let start: number;
    let gap = false;
    if (frame.since === undefined) start = Math.max(0, length - frame.limit);
    else if (frame.epoch !== undefined && frame.epoch !== channel.epoch) {
      gap = true;
      start = 0;
    } else if (frame.since >= channel.seq) start = length;
    else if (frame.since < channel.oldestLogged - 1) {
      gap = true;
      start = 0;
    } else start = channel.indexAfter(frame.since);
    const head = `{"type":"changelog","channel":${channel.quotedName},"ref":${frame.ref},"epoch":"${channel.epoch}","patches":[`;
    const tail = `],"more":false${gap ? ',"gap":true' : ''}}`;
    let bytes = head.length + tail.length + 1;
    const items: string[] = [];
    let i = start;
    for (; i < length && items.length < frame.limit; i++) {
      const entry = channel.logAt(i);
      const itemBytes = entry.bytes - channel.seqOffset + 1;
      // A page holds at least one patch (a larger one comes chunked), and no more than fit in a frame.
      if (items.length > 0 && bytes + itemBytes + 1 > session.out.maxMessageBytes) break;
      items.push(channel.loggedPatch(entry));
      bytes += itemBytes + 1;
    }
    const more = i < length;
    counters.changesServed++;
    session.out.send(frame.channel, `${head}${items.join(',')}],"more":${more}${gap ? ',"gap":true' : ''}}`);
  }

  /** A frame of a greeted version 2 session. */
  function receive(session: LiveSession, value: unknown): Answer<void> {
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { type?: unknown }).type === 'op') {
      return receiveOp(session, value as Record<string, unknown>);
    }
    const parsed = parseClientFrameV2(value);
    if (!parsed.ok) {
      // Any JSON arrives here (`null`, a number, an array): read fields only from an object.
      const fields = typeof value === 'object' && value !== null ? (value as { type?: unknown; channel?: unknown; ref?: unknown }) : {};
      const type = fields.type;
      const channel = fields.channel;
      if (parsed.code === ErrorCodeV2.INVALID_CHANNEL && (type === 'subscribe' || type === 'unsubscribe')) {
        return sendUnsubscribed(session, channel as string, ErrorCodeV2.INVALID_CHANNEL, `${type}.channel: ${JSON.stringify((channel as string).slice(0, 140))} is not a channel name: 1 to 128 characters of A-Z a-z 0-9 _ . : / @ -, not "__proto__"`);
      }
      const ref = fields.ref;
      return ctx.reject(session, parsed.code, fit(parsed.problem), type === 'changes' && isWholeNumber(ref) ? { ref } : undefined);
    }
    const frame = parsed.frame;
    switch (frame.type) {
      case 'ping':
        return ctx.send(session, { type: 'pong' });
      case 'subscribe':
        return subscribe(session, frame);
      case 'unsubscribe':
        return unsubscribe(session, frame.channel);
      case 'changes':
        return changes(session, frame);
      case 'auth':
        return auth(session, frame.token);
      case 'hello':
        if (!ctx.helloAllowed(session)) return;
        return ctx.reject(session, ErrorCodeV2.INVALID_FRAME, 'hello: this connection is already greeted; to resync a channel, subscribe to it again');
      case 'op':
        return; // handled above
    }
  }

  /** The session ended (closed, lost, replaced, expired): its subscriptions end, its members enter their grace. */
  function end(session: LiveSession): void {
    ctx.clearTimeout(session.refreshTimer);
    ctx.clearTimeout(session.expiryTimer);
    if (session.version !== 2) return;
    for (const sub of [...session.subs.values()]) endSubscription(sub, 'connection');
    if (ctx.clients.get(session.key) === session) ctx.clients.delete(session.key);
  }

  /**
   * The copy started another epoch (the engine lost the channel's log or state): the subscription
   * gets the new epoch's snapshot, `synced` and presence, unasked, as a subscribe without a position
   * would (docs/protocol.md); the connection and its other channels go on.
   */
  function resync(sub: Subscription): Answer<void> {
    if (sub.session.gone || sub.session.subs.get(sub.channel.name) !== sub) return;
    const frame = { type: 'subscribe', channel: sub.channel.name, presence: sub.presence } as SubscribeFrame;
    return synced(sub, frame, undefined, undefined);
  }

  return { greet, receive, end, resync };
}
