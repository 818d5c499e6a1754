/**
 * What must hold per channel in a version 2 run (docs/simulation.md, "Channel runs"). Watched on
 * the wire between each client and the server, and on every client's channels:
 *
 * - ops: every op applied at most once while the run goes (counted per client, channel and op),
 *   and at the end exactly once when acked, never when refused;
 * - snapshots: the server never answers a subscribe with a snapshot when it could replay (same
 *   epoch, position within the log), and a channel never subscribes without its position once it
 *   had one (so no snapshot comes where replay was possible);
 * - refusals: a subscribe is never answered by closing the connection; a channel fails with
 *   `ERR_CHANNEL_FORBIDDEN` only after the server's `authorize` denied it, and the read that
 *   failed it leaves every other channel of the connection as it was;
 * - statuses: a channel is live only while its connection is open; `seq` never goes backwards
 *   within an epoch in a channel's Model;
 * - presence, on the server's time: no leave of a member while it is held or within the grace
 *   period after its connection ended (unless it left on purpose), no join of a member already
 *   listed, and a member's `joinedAt` kept through a reconnect inside the grace period;
 * - once healed: every channel held is subscribed and live, its Model equals the server's
 *   document, and every client's presence view equals the server's members.
 */
import type { Channel } from '../../channel.js';
import type { Connection } from '../../connection.js';
import type { TestClock } from '../clock.js';
import { InvariantError, sortKeys } from './invariants.js';
import type { SimClient } from './network.js';

/** One client of a channel run. */
export interface SimUser {
  index: number;
  /** The user its tokens name, and its client id (`sim-<name>`). */
  name: string;
  label: string;
  clientId: string;
  /** What its token function does now. */
  tokenMode: 'ok' | 'slow' | 'fail';
  connection: Connection;
  /** The channels it holds (or held last: a failed one stays until it is opened again), by name. */
  handles: Map<string, ChannelWatch>;
  net: SimClient;
  /** Version 1's step check of the connection (one socket, the outbox, the actor). */
  check(): void;
  fatalClose(): string | null;
  /** A channel just failed with ERR_CHANNEL_FORBIDDEN: the socket and the other subscribed channels then. */
  refusal: { channel: string; socketId: number; states: Map<string, string> } | null;
}

/** One channel handle, watched. */
export interface ChannelWatch {
  name: string;
  handle: Channel;
  presence: boolean;
  openedAt: number;
  /** The last position its Model applied. */
  position: { epoch: string; seq: number } | null;
}

/** An op sent on a channel, by its tag (the unique value it sets). */
interface SentOp {
  user: SimUser;
  channel: string;
  /** 'pending' until its answer; 'acked', or the code it was refused or failed with. */
  outcome: string;
}

/** Presence of one member (user) on one channel, as the server's rules say it must be. */
interface Membership {
  /** The socket whose subscription holds the member, or null. */
  link: number | null;
  /** When its holding connection ended (the grace period runs from then), or null. */
  detachedAt: number | null;
  /** Its `joinedAt` in the last list it was sent, or null when its membership may have ended since. */
  joinedAt: number | null;
  /** When its leave went out (to every other member at once). */
  leftAt: number | null;
}

/**
 * Codes an op is refused with by the server, or fails with when it was never written (its channel
 * ended or failed first, or the connection stopped): never applied.
 */
const REFUSED = new Set(['ERR_PUBLISH_FORBIDDEN', 'ERR_DATA_LIMIT', 'ERR_INVALID_FRAME', 'ERR_NOT_SUBSCRIBED', 'ERR_CHANNEL_FORBIDDEN', 'ERR_STOPPED']);
/** Codes of an op whose fate the client cannot know (written, its answer lost; or a resend the server cannot judge): applied at most once. */
const UNANSWERED = new Set(['ERR_CLIENT_FORGOTTEN', 'ERR_OP_UNCONFIRMED']);

export interface ChannelWatchInput {
  clock: TestClock;
  trace(line: string): void;
  /**
   * The document and presence members of a channel the clients must converge on: the server's
   * (one instance), or the shared store's (several; read once the run is quiet).
   */
  stateOf(channel: string): { data: Record<string, unknown>; members: readonly unknown[] };
  /**
   * Several server instances share one store that answers later: a member's join or leave reaches
   * each instance when the store tells it, after the frame that caused it was handled, so the
   * presence timing rules (no leave while held or in grace, no second join, `joinedAt` kept) are
   * not checked; the views' consistency and the healed state are, with members compared as sets.
   */
  instances: number;
  users: readonly SimUser[];
  logSize: number;
  graceMs: number;
  tally: { forbidden: number; opsSent: number; opsAcked: number; opsRefused: number };
}

export function createChannelWatch(input: ChannelWatchInput) {
  const { clock, trace, stateOf, users, logSize, graceMs, tally } = input;
  const several = input.instances > 1;
  const byClientId = new Map(users.map((user) => [user.clientId, user]));
  const ops = new Map<string, SentOp>();
  /** `channel client n` (the server's onApply id) → the op's tag, learned as the op reaches the server. */
  const tagOf = new Map<string, string>();
  const applyCounts = new Map<string, number>();
  /** `user channel` → when `authorize` last denied a subscribe. */
  const denials = new Map<string, number>();
  const members = new Map<string, Membership>();
  /** Per socket, per channel: the members its client was told of (list, joins, leaves). */
  const views = new Map<number, Map<string, Set<string>>>();
  /** The frame the server is handling, and whose. */
  let handling: { user: SimUser; type: string; channel?: string; epoch?: string; since?: number } | null = null;
  let violation: string | null = null;
  let opSerial = 0;

  const fail = (message: string) => {
    violation ??= message;
  };
  const membership = (user: SimUser, channel: string): Membership => {
    const key = `${user.name} ${channel}`;
    let entry = members.get(key);
    if (entry === undefined) members.set(key, (entry = { link: null, detachedAt: null, joinedAt: null, leftAt: null }));
    return entry;
  };
  const inGrace = (entry: Membership) => entry.detachedAt !== null && clock.now() - entry.detachedAt < graceMs;

  function onStatus(user: SimUser, watched: ChannelWatch) {
    return (status: ReturnType<Channel['getStatus']>) => {
      if (status.state !== 'failed') return;
      const code = status.lastError?.code;
      if (code !== 'ERR_CHANNEL_FORBIDDEN') {
        fail(`${user.label} ${watched.name} failed with ${code}: ${status.lastError?.message}`);
        return;
      }
      tally.forbidden++;
      const denied = denials.get(`${user.name} ${watched.name}`);
      if (denied === undefined || denied < watched.openedAt) fail(`${user.label} ${watched.name} failed with ERR_CHANNEL_FORBIDDEN, but authorize never denied it`);
      // the other subscribed channels, as they are now: the check after this event compares
      const states = new Map<string, string>();
      for (const [name, other] of user.handles) {
        const state = other.handle.getStatus().state;
        if (other !== watched && state === 'subscribed') states.set(name, state);
      }
      user.refusal = { channel: watched.name, socketId: user.connection.actor.getSnapshot().context.socketId, states };
    };
  }

  return {
    /** Watches a channel handle just opened (or the default channel's). */
    track(user: SimUser, handle: Channel, presence: boolean): ChannelWatch {
      const watched: ChannelWatch = { name: handle.name, handle, presence, openedAt: clock.now(), position: null };
      const before = user.handles.get(handle.name);
      if (before?.handle !== handle) {
        user.handles.set(handle.name, watched);
        handle.subscribe(onStatus(user, watched));
        return watched;
      }
      return before;
    },

    /** Sends an op on a channel; its answer is recorded. False when the channel refused it at once. */
    sendOp(user: SimUser, watched: ChannelWatch, key: string): boolean {
      const tag = `${user.clientId}#${++opSerial}`;
      let answer: Promise<void>;
      try {
        answer = watched.handle.send({ set: { [key]: tag } });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'ERR_OUTBOX_FULL' || code === 'ERR_NOT_SUBSCRIBED' || code === 'ERR_CHANNEL_FORBIDDEN' || code === 'ERR_STOPPED') return false;
        throw error;
      }
      const op: SentOp = { user, channel: watched.name, outcome: 'pending' };
      ops.set(tag, op);
      tally.opsSent++;
      answer.then(
        () => {
          op.outcome = 'acked';
          tally.opsAcked++;
        },
        (error: unknown) => {
          op.outcome = String((error as { code?: unknown }).code ?? error);
          if (REFUSED.has(op.outcome)) tally.opsRefused++;
        },
      );
      return true;
    },

    denied(user: string, channel: string, action: string) {
      if (action === 'subscribe') denials.set(`${user} ${channel}`, clock.now());
    },

    /** The server applied an op (`onApply`): at most once, ever. */
    applied(id: string) {
      const tag = tagOf.get(id);
      if (tag === undefined) return fail(`the server applied ${id}, an op no client sent`);
      const count = (applyCounts.get(tag) ?? 0) + 1;
      applyCounts.set(tag, count);
      if (count > 1) fail(`op ${tag} (${id}) applied ${count} times`);
    },

    /** `user` writes a frame: a subscribe carries the channel's position once it has one. */
    wrote(user: SimUser, frame: string) {
      if (!frame.startsWith('{"type":"subscribe"') || frame.includes('"epoch":')) return;
      const { channel } = JSON.parse(frame) as { channel: string };
      const watched = user.handles.get(channel);
      // a handle that ended or failed is being replaced: the subscribe is its successor's, which has no position yet
      const replaced = watched === undefined || ['unsubscribing', 'ended', 'failed'].includes(watched.handle.getStatus().state);
      const position = replaced ? null : positionOf(watched);
      if (position !== null) fail(`${user.label} ${channel} subscribed without its position (${position.epoch}:${position.seq}): a snapshot where replay was possible`);
    },

    /** A frame from `user` reaches the server. */
    received(user: SimUser, frame: string, receive: () => void, socketId: number) {
      const type = /^\{(?:"re":\d+,)?"type":"([a-z]+)"/.exec(frame)?.[1] ?? '';
      const parsed = type === 'op' || type === 'subscribe' || type === 'unsubscribe' ? (JSON.parse(frame) as Record<string, unknown>) : null;
      if (type === 'op' && parsed !== null) {
        const set = parsed.set as Record<string, string>;
        tagOf.set(`${parsed.channel as string} ${user.clientId} ${parsed.n as number}`, Object.values(set)[0] as string);
      }
      handling = { user, type };
      if (parsed !== null) {
        handling.channel = parsed.channel as string;
        if (typeof parsed.epoch === 'string') handling.epoch = parsed.epoch;
        if (typeof parsed.since === 'number') handling.since = parsed.since;
      }
      try {
        receive();
      } finally {
        handling = null;
      }
      if (type === 'unsubscribe' && parsed !== null) {
        const entry = membership(user, parsed.channel as string);
        if (entry.link === socketId) Object.assign(entry, { link: null, detachedAt: null, joinedAt: null });
      }
    },

    /** The server sends `user` a frame on socket `socketId`. */
    sent(user: SimUser, frame: string, socketId: number) {
      if (frame.startsWith('{"type":"snapshot"')) {
        if (handling?.user === user && handling.type === 'subscribe' && handling.epoch !== undefined && handling.since !== undefined) {
          const snapshot = JSON.parse(frame) as { channel: string; epoch: string; seq: number };
          const since = handling.since;
          if (snapshot.channel === handling.channel && snapshot.epoch === handling.epoch && since <= snapshot.seq && snapshot.seq - since <= Math.min(logSize, snapshot.seq)) {
            fail(`${user.label} ${snapshot.channel}: a snapshot answered a subscribe the log could replay (since ${since}, seq ${snapshot.seq}, log ${logSize}, epoch ${snapshot.epoch})`);
          }
        }
      } else if (frame.startsWith('{"type":"presence"')) {
        const list = JSON.parse(frame) as { channel: string; members: Array<{ client: string; user: string | null; joinedAt: number }> };
        let view = views.get(socketId);
        if (view === undefined) views.set(socketId, (view = new Map()));
        view.set(list.channel, new Set(list.members.map((member) => member.client)));
        const own = list.members.find((member) => member.client === user.clientId);
        if (own === undefined) return fail(`${user.label} ${list.channel}: the presence list sent to it lacks itself`);
        const entry = membership(user, list.channel);
        const ended = entry.detachedAt !== null && !inGrace(entry);
        if (!several && entry.joinedAt !== null && !ended && own.joinedAt !== entry.joinedAt) {
          fail(`${user.label} ${list.channel}: joined anew (joinedAt ${entry.joinedAt} → ${own.joinedAt}) though it was held or within the grace period (${graceMs} ms) since ${entry.detachedAt ?? 'never detached'}`);
        }
        Object.assign(entry, { link: socketId, detachedAt: null, joinedAt: own.joinedAt });
      } else if (frame.startsWith('{"type":"join"')) {
        const join = JSON.parse(frame) as { channel: string; member: { client: string } };
        const view = views.get(socketId)?.get(join.channel);
        if (view?.has(join.member.client)) fail(`${user.label} ${join.channel}: told that ${join.member.client} joined, already listed`);
        view?.add(join.member.client);
        const member = byClientId.get(join.member.client);
        if (member !== undefined && !several) {
          const entry = membership(member, join.channel);
          if (entry.joinedAt !== null && (entry.link !== null || inGrace(entry))) {
            fail(`${join.member.client} joined ${join.channel} again while ${entry.link !== null ? `held (socket#${entry.link})` : `within the grace period (detached at ${entry.detachedAt})`}`);
          }
        }
      } else if (frame.startsWith('{"type":"leave"')) {
        const leave = JSON.parse(frame) as { channel: string; client: string };
        const view = views.get(socketId)?.get(leave.channel);
        if (view !== undefined && !view.delete(leave.client)) fail(`${user.label} ${leave.channel}: told that ${leave.client} left, not listed`);
        const member = byClientId.get(leave.client);
        // a member's own frame (unsubscribe, a refused subscribe or auth) may end it at once; anything else only after the grace period
        if (member !== undefined && handling?.user !== member && !several) {
          const entry = membership(member, leave.channel);
          if (entry.leftAt === clock.now()) return;
          if (entry.link !== null || entry.detachedAt === null || inGrace(entry)) {
            fail(`${leave.client} left ${leave.channel} while ${entry.link !== null ? `held (socket#${entry.link})` : entry.detachedAt === null ? 'not detached' : `within the grace period (${clock.now() - entry.detachedAt} of ${graceMs} ms)`}`);
          }
          Object.assign(entry, { link: null, detachedAt: null, joinedAt: null, leftAt: clock.now() });
        }
      } else if (frame.startsWith('{"type":"unsubscribed"')) {
        const { channel } = JSON.parse(frame) as { channel: string };
        const entry = membership(user, channel);
        // refused or ended on purpose: its membership may have ended (a member in grace keeps its grace)
        if (entry.link === socketId) entry.link = null;
        if (entry.detachedAt === null) entry.joinedAt = null;
      }
    },

    /** The server closes `user`'s socket: never while handling a subscribe or unsubscribe. */
    closedByServer(user: SimUser, code: number, _socketId: number) {
      if (handling?.user === user && (handling.type === 'subscribe' || handling.type === 'unsubscribe')) {
        fail(`${user.label}: the server closed the connection (${code}) handling a ${handling.type} of ${handling.channel}`);
      }
    },

    /** The server forgot `user`'s socket: the members it held enter their grace period. */
    gone(user: SimUser, socketId: number) {
      views.delete(socketId);
      for (const [key, entry] of members) {
        if (entry.link === socketId && key.startsWith(`${user.name} `)) Object.assign(entry, { link: null, detachedAt: clock.now() });
      }
    },

    /** The restart fault: members go with the process, without leaves. */
    restarted() {
      members.clear();
    },

    /** After every event. */
    check() {
      if (violation !== null) throw new InvariantError(violation);
      for (const user of users) {
        const connection = user.connection.getStatus();
        for (const watched of user.handles.values()) {
          const status = watched.handle.getStatus();
          if (status.live && connection.state !== 'open') throw new InvariantError(`${user.label} ${watched.name} is live while its connection is ${connection.state}`);
          const position = positionOf(watched);
          if (position !== null && watched.position !== null && position.epoch === watched.position.epoch && position.seq < watched.position.seq) {
            throw new InvariantError(`${user.label} ${watched.name}: seq went backwards: ${watched.position.seq} → ${position.seq} in epoch ${position.epoch}`);
          }
          watched.position = position;
        }
        const refusal = user.refusal;
        if (refusal === null) continue;
        // the rest of the event that failed a channel left the connection and every other channel as it was
        user.refusal = null;
        if (refusal.socketId !== user.connection.actor.getSnapshot().context.socketId || connection.state !== 'open') continue;
        for (const [name, state] of refusal.states) {
          const now = user.handles.get(name)?.handle.getStatus();
          if (now !== undefined && now.state !== state && now.lastError === null && now.state !== 'ended' && now.state !== 'unsubscribing') {
            throw new InvariantError(`${user.label} ${name} went ${state} → ${now.state} when ${refusal.channel} was refused`);
          }
        }
      }
    },

    /** Nothing is on its way: no op unanswered, no subscribe, unsubscribe or retry pending. */
    settled(): boolean {
      for (const user of users) {
        if (user.connection.getStatus().outboxSize > 0) return false;
        for (const watched of user.handles.values()) {
          const state = watched.handle.getStatus().state;
          if (state === 'subscribing' || state === 'retrying' || state === 'unsubscribing') return false;
        }
      }
      return true;
    },

    /** Once healed and quiet. */
    checkConverged() {
      if (violation !== null) throw new InvariantError(violation);
      for (const user of users) {
        const outbox = user.connection.getStatus().outboxSize;
        if (outbox > 0) throw new InvariantError(`${user.label}: ${outbox} op(s) still unacknowledged after healing`);
        for (const watched of user.handles.values()) {
          const status = watched.handle.getStatus();
          if (status.state === 'failed' || status.state === 'ended') continue;
          if (status.state !== 'subscribed' || !status.live) throw new InvariantError(`${user.label} ${watched.name} is ${status.state}${status.live ? '' : ' (stale)'} after healing`);
          const state = stateOf(watched.name);
          const actual = JSON.stringify(sortKeys(watched.handle.model.getData() as Record<string, unknown>));
          const expected = JSON.stringify(sortKeys(state.data));
          if (actual !== expected) throw new InvariantError(`${user.label} ${watched.name}: the Model differs from the server's document:\n  client ${actual}\n  server ${expected}`);
          if (!watched.presence) continue;
          const byClient = (members: unknown) => (several && Array.isArray(members) ? [...(members as Array<{ client: string }>)].sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0)) : members);
          const seen = JSON.stringify(byClient(watched.handle.presence?.getData() ?? null));
          const listed = JSON.stringify(byClient(state.members));
          if (seen !== listed) throw new InvariantError(`${user.label} ${watched.name}: presence differs from the server's members:\n  client ${seen}\n  server ${listed}`);
          const holders = users
            .filter((other) => {
              const held = other.handles.get(watched.name);
              return held !== undefined && held.presence && held.handle.getStatus().state === 'subscribed';
            })
            .map((other) => other.clientId)
            .sort();
          const listedClients = (state.members as Array<{ client: string }>).map((member) => member.client).sort();
          if (JSON.stringify(holders) !== JSON.stringify(listedClients)) {
            throw new InvariantError(`${watched.name}: members ${listedClients.join(', ')} after the grace period, held by ${holders.join(', ')}`);
          }
        }
      }
      for (const [tag, op] of ops) {
        const count = applyCounts.get(tag) ?? 0;
        if (op.outcome === 'pending') throw new InvariantError(`op ${tag} on ${op.channel} never answered`);
        if (op.outcome === 'acked' && count !== 1) throw new InvariantError(`op ${tag} on ${op.channel} acked, applied ${count} times`);
        if (REFUSED.has(op.outcome) && count !== 0) throw new InvariantError(`op ${tag} on ${op.channel} refused (${op.outcome}), applied ${count} times`);
        if (op.outcome !== 'acked' && !REFUSED.has(op.outcome) && !(UNANSWERED.has(op.outcome) && count <= 1)) {
          throw new InvariantError(`op ${tag} on ${op.channel}: ${op.outcome}, applied ${count} times`);
        }
      }
      trace(`sim: converged: ${ops.size} ops, ${users.reduce((sum, user) => sum + user.handles.size, 0)} channels held`);
    },
  };
}

/** The position the channel's Model applied last (a Store knows it). */
function positionOf(watched: ChannelWatch): { epoch: string; seq: number } | null {
  return (watched.handle.model as { position?: () => { epoch: string; seq: number } | null }).position?.() ?? null;
}
