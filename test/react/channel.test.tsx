// @vitest-environment jsdom
/**
 * useChannel on the sync protocol's version 2 (the server's frames scripted on the fake socket):
 * one subscribe under StrictMode, held while any component uses it, unsubscribed after the
 * last; data, presence, send and changes pass through; a refused name is status, not a throw.
 */
import { memo } from 'react';
import { act, cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { useChannel, useModel, type UseChannelResult } from '../../src/react/index.js';
import { settle, type Data } from './harness.js';
import { setup, written } from './channel-harness.js';

afterEach(cleanup);

describe('useChannel', () => {
  it('subscribes once for two components under StrictMode, and unsubscribes after the last unmounts', async () => {
    const { wrap, start } = setup();
    function Notes() {
      return <span>{useChannel('notes').status.state} </span>;
    }
    const view = render(
      wrap(
        <>
          <Notes />
          <Notes />
        </>,
      ),
    );
    const socket = await start();
    expect(written(socket)).toEqual(['hello', 'subscribe notes']);
    expect(view.container.textContent).toBe('subscribing subscribing ');
    view.rerender(wrap(<Notes />));
    await settle();
    expect(written(socket)).toEqual(['hello', 'subscribe notes']);
    view.rerender(wrap(null));
    await settle();
    expect(written(socket)).toEqual(['hello', 'subscribe notes', 'unsubscribe notes']);
    view.unmount();
  });

  it('passes data, presence, send and changes through, data at most once per frame', async () => {
    const { h, wrap, start } = setup();
    let notes: UseChannelResult | null = null;
    let renders = 0;
    function Notes() {
      notes = useChannel('notes', { presence: true });
      renders += 1;
      return null;
    }
    const view = render(wrap(<Notes />));
    const socket = await start();
    act(() =>
      socket.receive(
        { type: 'snapshot', channel: 'notes', epoch: 'N', seq: 0, data: { a: 1 } },
        { type: 'synced', channel: 'notes', epoch: 'N', seq: 0 },
        { type: 'presence', channel: 'notes', members: [{ client: 'c1', user: null, joinedAt: 1 }] },
      ),
    );
    h.frame();
    const current = () => notes as unknown as UseChannelResult;
    expect(current().status).toMatchObject({ state: 'subscribed', live: true });
    expect(current().data).toEqual({ a: 1 });
    expect(current().presence?.map((member) => member.client)).toEqual(['c1']);
    // a flood of patches: one render at the frame
    const before = renders;
    act(() => {
      for (let seq = 1; seq <= 20; seq += 1) socket.receive({ type: 'patch', channel: 'notes', epoch: 'N', seq, set: { a: seq } });
    });
    expect(renders).toBe(before);
    h.frame();
    expect(renders - before).toBe(2); // StrictMode: two renders per render
    expect(current().data).toEqual({ a: 20 });

    let sent: Promise<void> | null = null;
    act(() => {
      sent = current().send({ set: { b: 2 } });
    });
    expect(socket.sentMessages().at(-1)).toMatchObject({ type: 'op', channel: 'notes', set: { b: 2 } });
    const n = (socket.sentMessages().at(-1) as { n: number }).n;
    act(() => socket.receive({ type: 'ack', channel: 'notes', n }));
    await expect(sent).resolves.toBeUndefined();

    const page = current().changes({ since: 0, limit: 1 });
    expect(socket.sentMessages().at(-1)).toMatchObject({ type: 'changes', channel: 'notes', since: 0, limit: 1 });
    const ref = (socket.sentMessages().at(-1) as { ref: number }).ref;
    socket.receive({ type: 'changelog', channel: 'notes', ref, epoch: 'N', patches: [{ seq: 1, set: { a: 1 } }], more: true });
    await expect(page).resolves.toMatchObject({ epoch: 'N', patches: [{ seq: 1, set: { a: 1 } }], more: true });
    view.unmount();
  });

  it('shows a name the client refuses as a failed status, without throwing during render', async () => {
    const { wrap, start } = setup();
    let notes: UseChannelResult | null = null;
    function Bad() {
      notes = useChannel('no spaces allowed');
      return null;
    }
    const view = render(wrap(<Bad />));
    await start();
    const result = notes as unknown as UseChannelResult;
    expect(result.status).toMatchObject({ state: 'failed', live: false, lastError: { code: 'ERR_INVALID_CHANNEL' } });
    expect(result.channel).toBeNull();
    await expect(result.send({ set: { a: 1 } })).rejects.toMatchObject({ code: 'ERR_NOT_SUBSCRIBED' });
    await expect(result.changes()).rejects.toMatchObject({ code: 'ERR_NOT_SUBSCRIBED' });
    view.unmount();
  });

  it('feeds useModel with a channel handle: a selected key re-renders only when it changes', async () => {
    const { h, wrap, start } = setup();
    const shown: unknown[] = [];
    // memo: Price re-renders with the channel's data; Selected only with its own selection
    const Selected = memo(function Selected({ channel }: { channel: NonNullable<UseChannelResult['channel']> }) {
      shown.push(useModel(channel, (data) => (data as Data)['btc']).value);
      return null;
    });
    function Price() {
      const { channel } = useChannel('prices');
      return channel === null ? null : <Selected channel={channel} />;
    }
    const view = render(wrap(<Price />));
    const socket = await start();
    act(() =>
      socket.receive(
        { type: 'snapshot', channel: 'prices', epoch: 'P', seq: 0, data: { btc: 1, eth: 1 } },
        { type: 'synced', channel: 'prices', epoch: 'P', seq: 0 },
      ),
    );
    h.frame();
    expect(shown.at(-1)).toBe(1);
    const count = shown.length;
    act(() => socket.receive({ type: 'patch', channel: 'prices', epoch: 'P', seq: 1, set: { eth: 2 } }));
    h.frame();
    expect(shown).toHaveLength(count);
    act(() => socket.receive({ type: 'patch', channel: 'prices', epoch: 'P', seq: 2, set: { btc: 3 } }));
    h.frame();
    expect(shown.at(-1)).toBe(3);
    view.unmount();
  });
});
