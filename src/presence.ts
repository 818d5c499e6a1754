/**
 * `createPresence()`: the Model of a channel's presence (docs/protocol.md, "Presence"). It
 * applies the channel's `presence` list (on every subscribe) and `join`/`leave` deltas, and hands
 * its view the members, ordered as the server orders them (by `joinedAt`, then client id, then
 * user); a member who joins goes after the others. A member is identified by client id and user
 * together.
 */
import type { JoinFrame, LeaveFrame, PresenceFrame, PresenceMember } from './sync/messages-v2.js';
import type { Model } from './types.js';

export type { PresenceMember };

/** The members of a channel: what a presence view renders. */
export type PresenceData = readonly PresenceMember[];

/** The frames a presence Model takes. */
export type PresenceMessage = PresenceFrame | JoinFrame | LeaveFrame;

export interface Presence extends Model<PresenceData, PresenceMessage> {
  /** Member lists and deltas applied. */
  readonly applied: number;
}

const same = (a: { client: string; user: string | null }, b: { client: string; user: string | null }) => a.client === b.client && a.user === b.user;

export function createPresence(): Presence {
  let members: PresenceData = Object.freeze([]);
  let applied = 0;
  return {
    update(message) {
      switch (message.type) {
        case 'presence':
          members = Object.freeze([...message.members]);
          break;
        case 'join':
          members = Object.freeze([...members.filter((member) => !same(member, message.member)), message.member]);
          break;
        case 'leave':
          members = Object.freeze(members.filter((member) => !same(member, message)));
          break;
        default:
          throw new TypeError(`createPresence: expected a presence, join or leave frame, received ${JSON.stringify((message as { type?: unknown }).type)}`);
      }
      applied++;
    },
    getData: () => members,
    get applied() {
      return applied;
    },
  };
}
