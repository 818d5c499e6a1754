/**
 * Version 1 sessions (docs/protocol-v1.md) on a version 2 server: served exactly as version 1
 * describes, on the `default` channel (docs/protocol.md, "Version 1 clients on a version 2
 * server"). A repeated hello resyncs; ops carry ids, deduplicated by the engine's op id records
 * (op-record.ts in the memory engine), apart from version 2's marks; with an ACL the token must allow subscribing to
 * `default` (else 4403) and publishing for ops (else `ERR_PUBLISH_FORBIDDEN`, settled).
 */
import type { HelloFrame } from '../sync/messages.js';
import { ServerErrorCode, SyncCloseCode, isOpId, parseClientFrame } from '../sync/messages.js';
import { DEFAULT_CHANNEL, SyncCloseCodeV2 } from '../sync/messages-v2.js';
import type { LogEntry } from './channel.js';
import type { Answer } from './engine.js';
import { caughtUp, refusedWho, type LiveSession, type ServerContext } from './session.js';

/** Longest message of a first refusal's error frame (the record keeps no message). */
const MAX_REFUSAL_MESSAGE = 300;

export function createV1Sessions(ctx: ServerContext) {
  const { counters } = ctx;

  /** An op that would push a fresh id out of its record: not applied, not refused; the client re-sends it later. */
  function deferred(session: LiveSession): void {
    counters.opsDeferred++;
    ctx.drop(session, SyncCloseCode.TRY_AGAIN_LATER, 'too many ops; try again later');
  }

  /**
   * A final refusal of the op `id`: recorded by the engine first, so a resend gets the same code
   * (its message only says so: the record keeps no message); an id applied before is acked.
   */
  function refuse(session: LiveSession, id: string, code: string, message: string): Answer<void> {
    const text = message.length > MAX_REFUSAL_MESSAGE ? `${message.slice(0, MAX_REFUSAL_MESSAGE - 3)}...` : message;
    return ctx.step(session, () => ctx.engine.refuse(DEFAULT_CHANNEL, code, { v1: { id, owner: session.owner } }), (result) => {
      if (result.status === 'deferred') return deferred(session);
      if (result.status === 'duplicate') return answerKnown(session, id, result.answer);
      if (result.status !== 'refused') return;
      counters.opsRefused++;
      ctx.reject(session, result.code, text, { id });
    });
  }

  /** An id the engine knew: its ack again, or its refusal again. */
  function answerKnown(session: LiveSession, id: string, answer: { kind: string; code?: string }): void {
    if (answer.kind === 'refusal' && answer.code !== undefined) {
      counters.opsRefused++;
      return ctx.reject(session, answer.code, `op ${id} was refused before (${answer.code})`, { id });
    }
    counters.opsDuplicate++;
    ctx.send(session, { type: 'ack', id });
  }

  /** The first valid version 1 hello, and every one after it (a resync). */
  function greet(session: LiveSession, hello: HelloFrame): Answer<void> {
    if (!ctx.helloAllowed(session)) return;
    if (!ctx.judgeHelloToken(session, hello.token)) return;
    const identity = session.identity!;
    if (session.version === 0 && !ctx.authorize(identity, DEFAULT_CHANNEL, 'subscribe')) {
      return ctx.drop(session, SyncCloseCodeV2.FORBIDDEN, `${refusedWho(identity)} may not subscribe to the ${DEFAULT_CHANNEL} channel`);
    }
    const channel = ctx.channel(DEFAULT_CHANNEL);
    return ctx.step(session, () => ctx.load(channel), (loaded) => {
      if (!loaded) return ctx.drop(session, SyncCloseCode.TRY_AGAIN_LATER, 'the server holds too many channels; try again later');
      const { epoch, since } = hello;
      // Ahead of this copy in its epoch (it came from an instance that had followed further): replay
      // once the copy has those entries; a snapshot now would take it back.
      if (epoch !== undefined && since !== undefined && epoch === channel.epoch && since > channel.seq) {
        return ctx.step(session, () => caughtUp(ctx, channel, epoch, since), () => sendData(session, hello, undefined));
      }
      // Further back than the copy's log: the engine's log may still cover it (another instance's patches).
      if (since === undefined || epoch === undefined || epoch !== channel.epoch || channel.canReplay(epoch, since) || since > channel.seq) return sendData(session, hello, undefined);
      return ctx.step(session, () => ctx.engine.readLog(DEFAULT_CHANNEL, epoch, since), (entries) => sendData(session, hello, entries === undefined ? undefined : channel.olderPatches(epoch, since, entries)));
    });
  }

  /** Holds the channel (first hello), then replay (`older` first, then the copy's log) or a snapshot. */
  function sendData(session: LiveSession, hello: HelloFrame, older: LogEntry[] | undefined): void {
    const identity = session.identity!;
    const channel = ctx.channel(DEFAULT_CHANNEL);
    if (session.version === 0) {
      session.version = 1;
      counters.v1Sessions++;
      session.v1 = { deliver: (text, bytes) => void session.out.send(undefined, text, bytes) };
      channel.v1.add(session.v1);
      ctx.hold(channel);
      session.info.onGreeted?.();
      if (identity.expiresAt !== undefined) {
        // Version 1 has no refresh: the connection ends at the expiry (a version 1 client treats 4419 as final).
        session.expiryTimer = ctx.setTimeout(() => {
          counters.tokenExpiries++;
          ctx.drop(session, SyncCloseCodeV2.TOKEN_EXPIRED, 'token expired');
        }, Math.max(0, identity.expiresAt - ctx.now()));
      }
    }
    if (older !== undefined || channel.canReplay(hello.epoch, hello.since)) {
      counters.replays++;
      const send = (entry: LogEntry) => {
        const text = channel.v1Text(entry);
        return session.out.send(undefined, text, entry.bytes - (entry.text.length - text.length));
      };
      for (const entry of older ?? []) if (!send(entry)) return;
      for (let i = older === undefined ? channel.indexAfter(hello.since as number) : 0; i < channel.logLength; i++) if (!send(channel.logAt(i))) return;
      return;
    }
    counters.snapshotsSent++;
    const snapshot = channel.v1Snapshot();
    session.out.send(undefined, snapshot.text, snapshot.bytes, true);
  }

  /**
   * An op, checked in this order: a known id gets its old answer (the same refusal, or an ack);
   * then the frame's shape, publishing, the value rule (a refusal with the id, recorded); then the
   * engine's step: the data limit (refused with the id, recorded) or write; broadcast, ack.
   */
  function receiveOp(session: LiveSession, value: Record<string, unknown>): Answer<void> {
    const id = isOpId(value.id) ? value.id : undefined;
    if (id === undefined) {
      const parsed = parseClientFrame(value); // only to say what is wrong with the id
      return ctx.reject(session, ServerErrorCode.INVALID_FRAME, parsed.ok ? 'invalid op id' : parsed.problem);
    }
    if (!ctx.authorize(session.identity!, DEFAULT_CHANNEL, 'publish')) {
      return refuse(session, id, 'ERR_PUBLISH_FORBIDDEN', `${refusedWho(session.identity!)} may not publish on the ${DEFAULT_CHANNEL} channel`);
    }
    const channel = ctx.channel(DEFAULT_CHANNEL);
    // An op is its id and its change: the change's shape and values are checked once, by the value
    // rule (checkChanges), on the raw value: a copy would have turned an own "__proto__" key into a prototype.
    const checked = channel.validate(value);
    if (Array.isArray(checked)) return refuse(session, id, checked[0], checked[1]);
    return ctx.step(session, () => ctx.append(channel, checked, { v1: { id, owner: session.owner } }), (result) => {
      if (result.status === 'deferred') return deferred(session);
      if (result.status === 'duplicate') return answerKnown(session, id, result.answer);
      if (result.status === 'tooLarge') {
        counters.opsRefused++;
        return ctx.reject(session, ServerErrorCode.DATA_LIMIT, channel.tooLargeMessage(result.bytes), { id });
      }
      if (result.status !== 'applied') return; // version 2 outcomes
      counters.opsApplied++;
      ctx.onApply?.(id);
      return ctx.ackAfterDelivery(session, channel, result.epoch, result.seq, () => ctx.send(session, { type: 'ack', id }));
    });
  }

  /** A frame of a greeted version 1 session. */
  function receive(session: LiveSession, value: unknown): Answer<void> {
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { type?: unknown }).type === 'op') {
      return receiveOp(session, value as Record<string, unknown>);
    }
    const parsed = parseClientFrame(value);
    if (!parsed.ok) return ctx.reject(session, ServerErrorCode.INVALID_FRAME, parsed.problem);
    const frame = parsed.frame;
    if (frame.type === 'ping') return ctx.send(session, { type: 'pong' });
    if (frame.type === 'hello') {
      if (frame.v !== 1) {
        return ctx.drop(session, SyncCloseCode.UNSUPPORTED_VERSION, `unsupported protocol version ${frame.v}; this session speaks 1`);
      }
      return greet(session, frame);
    }
  }

  /** The session ended. */
  function end(session: LiveSession): void {
    ctx.clearTimeout(session.expiryTimer);
    if (session.v1 === undefined) return;
    const channel = ctx.channel(DEFAULT_CHANNEL);
    channel.v1.delete(session.v1);
    session.v1 = undefined;
    counters.v1Sessions--;
    ctx.released(channel);
  }

  return { greet, receive, receiveOp, end };
}
