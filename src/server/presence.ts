/**
 * Presence on a channel (docs/protocol.md, "Presence"): members join on a subscribe with
 * presence, are continued by a subscribe of the same user and client id within the grace period
 * after their connection ended, and leave at once when they leave on purpose. Joins and leaves go
 * to every subscriber with presence but the member's own.
 */
import { utf8Length } from '../frames.js';
import type { Json } from '../store.js';
import type { Channel, Member, Subscriber } from './channel.js';

export interface PresenceContext {
  graceMs: number;
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  counters: { presenceJoins: number; presenceLeaves: number };
  /** The channel lost its last holder (it may become idle). */
  released(channel: Channel): void;
}

function send(channel: Channel, exceptKey: string, text: string): void {
  const bytes = utf8Length(text);
  for (const sub of channel.subscribers) if (sub.presence && sub.memberKey !== exceptKey) sub.deliver(text, bytes);
}

/**
 * Makes `sub`'s client a member (or continues its membership: no join then). Returns true when it
 * joined anew.
 */
export function attachMember(ctx: PresenceContext, channel: Channel, sub: Subscriber, client: string, user: string | null, info: Record<string, Json> | undefined): boolean {
  const existing = channel.members.get(sub.memberKey);
  if (existing !== undefined) {
    ctx.clearTimeout(existing.graceTimer);
    existing.graceTimer = undefined;
    existing.holder = sub;
    return false;
  }
  const joinedAt = ctx.now();
  const plain: Record<string, unknown> = { client, user };
  if (info !== undefined) plain.info = info;
  plain.joinedAt = joinedAt;
  const member: Member = { client, user, joinedAt, key: sub.memberKey, holder: sub, graceTimer: undefined, json: JSON.stringify(plain) };
  if (info !== undefined) member.info = info;
  channel.members.set(sub.memberKey, member);
  ctx.counters.presenceJoins++;
  send(channel, sub.memberKey, `{"type":"join","channel":${JSON.stringify(channel.name)},"member":${member.json}}`);
  return true;
}

/** The member of `key` leaves now (on purpose, or its grace period ended). */
export function removeMember(ctx: PresenceContext, channel: Channel, key: string): void {
  const member = channel.members.get(key);
  if (member === undefined) return;
  ctx.clearTimeout(member.graceTimer);
  channel.members.delete(key);
  ctx.counters.presenceLeaves++;
  send(channel, key, JSON.stringify({ type: 'leave', channel: channel.name, client: member.client, user: member.user }));
  ctx.released(channel);
}

/** `sub`'s connection ended: its member stays listed for the grace period, then leaves. */
export function detachMember(ctx: PresenceContext, channel: Channel, sub: Subscriber): void {
  const member = channel.members.get(sub.memberKey);
  if (member === undefined || member.holder !== sub) return;
  member.holder = null;
  if (ctx.graceMs <= 0) return removeMember(ctx, channel, member.key);
  member.graceTimer = ctx.setTimeout(() => {
    member.graceTimer = undefined;
    if (member.holder === null && channel.members.get(member.key) === member) removeMember(ctx, channel, member.key);
  }, ctx.graceMs);
}

/** The full list, as `presence {channel, members}`. */
export function presenceFrame(channel: Channel): string {
  const members = channel.orderedMembers().map((m) => m.json);
  return `{"type":"presence","channel":${JSON.stringify(channel.name)},"members":[${members.join(',')}]}`;
}

/** Every member's grace timer cleared and the members dropped, without leaves (the restart fault, a server closing). */
export function clearMembers(ctx: Pick<PresenceContext, 'clearTimeout'>, channel: Channel): void {
  for (const member of channel.members.values()) ctx.clearTimeout(member.graceTimer);
  channel.members.clear();
}
