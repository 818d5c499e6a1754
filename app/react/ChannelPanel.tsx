/**
 * A channel's panel heading and chip (`live`, `stale · subscribing`, `failed`), and why it failed
 * or waits. Alone, it shows a channel the page may not read (`admin/audit`): it fails with
 * `ERR_CHANNEL_FORBIDDEN` while the others, on the same connection, stay live.
 */
import type { ReactNode } from 'react';
import type { ChannelStatus } from '../../src/channel.js';
import { useChannel } from '../../src/react/index.js';
import { channelChip, channelErrorText } from '../present.js';

/** A panel titled with the channel's name and its chip; `id` is the channel's name without `/`. */
export function Panel({ name, status, children, hint }: { name: string; status: ChannelStatus; children?: ReactNode; hint: ReactNode }) {
  const { look, text } = channelChip(status);
  const id = name.replace(/\W/g, '-');
  return (
    <section id={id} className="panel" data-state={look} aria-labelledby={`${id}-title`}>
      <h2>
        <span id={`${id}-title`}>{name}</span>{' '}
        <span className="chip" id={`${id}-chip`}>
          {text}
        </span>
      </h2>
      {children}
      <p className="hint">{hint}</p>
    </section>
  );
}

export function ChannelPanel({ name, hint }: { name: string; hint: ReactNode }) {
  const { status } = useChannel(name);
  return (
    <Panel name={name} status={status} hint={hint}>
      <p className="channel-error">{channelErrorText(status)}</p>
    </Panel>
  );
}
