/**
 * Presence on a channel (docs/protocol.md, "Presence"), as an instance serves it: the engine
 * keeps the members (joins, leaves on purpose, the grace period after a connection ended:
 * engine.ts `join`/`leave`/`detach`) and tells every follower; this file keeps the followed
 * copy's list and sends the joins and leaves to every subscriber with presence but the member's own.
 */
import { utf8Length } from '../frames.js';
import { withJson, type Channel } from './channel.js';
import type { EngineMember } from './engine.js';

export interface PresenceContext {
  counters: { presenceJoins: number; presenceLeaves: number };
  /** The channel lost its last holder (it may become idle). */
  released(channel: Channel): void;
}

function send(channel: Channel, exceptKey: string, text: string): void {
  const bytes = utf8Length(text);
  for (const sub of channel.subscribers) if (sub.presence && sub.memberKey !== exceptKey) sub.deliver(text, bytes);
}

/** The engine says `member` joined: listed, and told to the channel's subscribers with presence. */
export function memberJoined(ctx: PresenceContext, channel: Channel, member: EngineMember): void {
  if (channel.members.has(member.key)) return;
  const listed = withJson(member);
  channel.members.set(member.key, listed);
  ctx.counters.presenceJoins++;
  send(channel, member.key, `{"type":"join","channel":${channel.quotedName},"member":${listed.json}}`);
}

/** The engine says `member` left (on purpose, or its grace period ended). */
export function memberLeft(ctx: PresenceContext, channel: Channel, member: EngineMember): void {
  if (!channel.members.delete(member.key)) return;
  ctx.counters.presenceLeaves++;
  send(channel, member.key, JSON.stringify({ type: 'leave', channel: channel.name, client: member.client, user: member.user }));
  ctx.released(channel);
}

/** The full list, as `presence {channel, members}`, ordered by joinedAt, then client id, then user. */
export function presenceFrame(channel: Channel): string {
  const members = channel.orderedMembers().map((m) => m.json);
  return `{"type":"presence","channel":${channel.quotedName},"members":[${members.join(',')}]}`;
}
