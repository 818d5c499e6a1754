/**
 * The demo's last lines: the client's history and counters, and whether each channel's model
 * equals the server's data for that channel. Compared only at one seq: a model at seq 79 next to
 * data at seq 80 differs by a patch in flight, not by a bug.
 */
import type { Connection } from '../../src/connection.js';
import type { ChannelStatus } from '../../src/channel.js';
import type { PresenceData } from '../../src/presence.js';
import type { Store } from '../../src/store.js';

/** What the summary reads from the server: one channel's position and data. */
export interface ServerView {
  core: { channelState(name: string): { readonly epoch: string; readonly seq: number; readonly data: Record<string, unknown> } };
}

/** What the summary reads of a channel on the client: its name and its Model. */
export interface ChannelView {
  readonly name: string;
  readonly model: Pick<Store, 'position' | 'getData'>;
}

/** True when the channel's model is at the server's current epoch and seq for that channel. */
export function caughtUp(channel: ChannelView, server: ServerView): boolean {
  const position = channel.model.position();
  const state = server.core.channelState(channel.name);
  return position !== null && position.epoch === state.epoch && position.seq === state.seq;
}

/**
 * Waits (at most `timeoutMs`) until every channel has applied every change the server made to it.
 * The demo calls it after stopping the feed and the faults, so the summary compares both at one seq.
 */
export function untilCaughtUp(channels: readonly ChannelView[], server: ServerView, timeoutMs: number): Promise<void> {
  const all = () => channels.every((channel) => caughtUp(channel, server));
  return new Promise((resolve) => {
    const deadline = setTimeout(finish, timeoutMs);
    const poll = setInterval(() => {
      if (all()) finish();
    }, 20);
    function finish(): void {
      clearTimeout(deadline);
      clearInterval(poll);
      resolve();
    }
    if (all()) finish();
  });
}

/** `prices: model equals the server's data at seq 80`, or where each stands when they are at different seqs. */
export function comparisonText(channel: ChannelView, server: ServerView): string {
  const state = server.core.channelState(channel.name);
  const position = channel.model.position();
  if (!caughtUp(channel, server)) {
    return `${channel.name}: model is at seq ${position?.seq ?? '-'}, behind the server's seq ${state.seq} (not compared)`;
  }
  const same = JSON.stringify(sorted(channel.model.getData())) === JSON.stringify(sorted(state.data));
  return `${channel.name}: model ${same ? 'equals' : 'DIFFERS FROM'} the server's data at seq ${state.seq}`;
}

export function summaryLine(
  connection: Pick<Connection, 'history' | 'getStatus'>,
  channels: readonly ChannelView[],
  server: ServerView,
): string {
  const states = connection.history.map((entry) => entry.state).join(' → ');
  const { received, rejected, sent, renders, reconnects } = connection.getStatus().counters;
  const comparisons = channels.map((channel) => ` · ${comparisonText(channel, server)}`).join('');
  return `summary: ${states} · received ${received}, rejected ${rejected}, sent ${sent}, renders ${renders}, reconnects ${reconnects}${comparisons}`;
}

/** One channel's status in a few words: `live`, `stale (subscribing)`, `failed ERR_CHANNEL_FORBIDDEN`. */
export function channelStateText(status: ChannelStatus): string {
  if (status.state === 'failed') return `failed ${status.lastError?.code ?? ''}`.trimEnd();
  if (status.live) return 'live';
  return `stale (${status.state})`;
}

/** Who is here, by name: `terminal, guest-0042` (the client id when a member has no user). */
export function membersText(members: PresenceData): string {
  return members.length === 0 ? 'nobody' : members.map((member) => member.user ?? member.client).join(', ');
}

/** `channels: prices live · notes live (here: terminal) · admin/audit failed ERR_CHANNEL_FORBIDDEN`. */
export function channelsLine(channels: ReadonlyArray<{ status: ChannelStatus; members?: PresenceData | undefined }>): string {
  const parts = channels.map(({ status, members }) => `${status.channel} ${channelStateText(status)}${members === undefined ? '' : ` (here: ${membersText(members)})`}`);
  return `channels: ${parts.join(' · ')}`;
}

function sorted(data: Readonly<Record<string, unknown>>) {
  return Object.fromEntries(Object.entries(data).sort(([a], [b]) => a.localeCompare(b)));
}
