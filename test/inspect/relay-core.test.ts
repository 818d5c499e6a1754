import { describe, expect, it } from 'vitest';
import { createRelayCore, type RelayedInspectionMessage } from '../../src/inspect/relay-core.js';

/** Inspection messages as `@statelyai/inspect` sends them (ids unprefixed). */
const actor = (sessionId: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: '@xstate.actor', sessionId, rootId: 'x:0', name: 'connection', definition: '{"id":"connection"}', ...extra });
const snapshot = (sessionId: string, value: unknown, status = 'active') =>
  JSON.stringify({ type: '@xstate.snapshot', sessionId, rootId: 'x:0', event: { type: 'e' }, snapshot: { value, status } });
const event = (sessionId: string, type: string, sourceId?: string) =>
  JSON.stringify({ type: '@xstate.event', sessionId, rootId: 'x:0', event: { type }, ...(sourceId === undefined ? {} : { sourceId }) });

/** A page that records what it receives, parsed. */
function page() {
  const frames: Array<Record<string, unknown>> = [];
  return { frames, sink: (frame: string) => frames.push(JSON.parse(frame) as Record<string, unknown>) };
}

const inspection = (frames: Array<Record<string, unknown>>) => frames.filter((frame) => String(frame.type).startsWith('@xstate.'));

describe('relay core', () => {
  describe('id prefixing', () => {
    it('prefixes session, root, parent and source ids with the source connection id', () => {
      const core = createRelayCore();
      const s1 = core.openSource();
      const s2 = core.openSource();
      expect([s1, s2]).toEqual(['s1', 's2']);
      const a = core.receive(s1, actor('x:1', { parentId: 'x:0' }));
      const b = core.receive(s2, event('x:0', 'socket.opened', 'x:1'));
      expect(a.ok && a.message).toMatchObject({ sessionId: 's1:x:1', rootId: 's1:x:0', parentId: 's1:x:0', relaySourceId: 's1' });
      expect(b.ok && b.message).toMatchObject({ sessionId: 's2:x:0', rootId: 's2:x:0', sourceId: 's2:x:1', relaySourceId: 's2' });
    });

    it('keeps two processes whose session ids are both x:0 apart', () => {
      const core = createRelayCore();
      const viewer = page();
      core.addPage(viewer.sink);
      for (const source of [core.openSource(), core.openSource()]) core.receive(source, actor('x:0'));
      expect(inspection(viewer.frames).map((frame) => frame.sessionId)).toEqual(['s1:x:0', 's2:x:0']);
    });
  });

  describe('fan-out', () => {
    it('sends every relayed message to every page, in order, with a growing relaySeq', () => {
      const core = createRelayCore();
      const pages = [page(), page(), page()];
      for (const viewer of pages) core.addPage(viewer.sink);
      const source = core.openSource();
      core.receive(source, actor('x:0'));
      core.receive(source, event('x:0', 'client.connect'));
      core.receive(source, snapshot('x:0', { session: 'connecting' }));
      for (const viewer of pages) {
        const messages = inspection(viewer.frames) as RelayedInspectionMessage[];
        expect(messages.map((message) => message.type)).toEqual(['@xstate.actor', '@xstate.event', '@xstate.snapshot']);
        expect(messages.map((message) => message.relaySeq)).toEqual([1, 2, 3]);
      }
    });

    it('tells pages when sources come and go', () => {
      const core = createRelayCore({ now: () => 1000 });
      const viewer = page();
      core.addPage(viewer.sink);
      const source = core.openSource();
      core.closeSource(source);
      expect(viewer.frames.slice(1)).toEqual([
        { type: 'relay.source.opened', relaySourceId: 's1', at: 1000 },
        { type: 'relay.source.closed', relaySourceId: 's1', at: 1000 },
      ]);
    });

    it('stops sending to a removed page, and drops a page whose sink throws', () => {
      const core = createRelayCore();
      const kept = page();
      const removed = page();
      core.addPage(kept.sink);
      const remove = core.addPage(removed.sink);
      core.addPage(() => {
        throw new Error('socket gone');
      });
      remove();
      const source = core.openSource();
      core.receive(source, actor('x:0'));
      expect(inspection(kept.frames)).toHaveLength(1);
      expect(inspection(removed.frames)).toHaveLength(0);
      expect(core.stats().pages).toBe(1);
    });
  });

  describe('replay buffer', () => {
    it('starts with relay.hello listing the sources', () => {
      const core = createRelayCore({ now: () => 5 });
      core.openSource();
      core.closeSource(core.openSource());
      const [hello] = core.replay().map((frame) => JSON.parse(frame) as Record<string, unknown>);
      expect(hello).toEqual({
        type: 'relay.hello',
        protocol: 1,
        sources: [
          { id: 's1', connected: true, openedAt: 5, closedAt: null },
          { id: 's2', connected: false, openedAt: 5, closedAt: 5 },
        ],
      });
    });

    it('gives a late page every actor and its latest snapshot even when the event window has moved on', () => {
      const core = createRelayCore({ replayLimit: 3 });
      const source = core.openSource();
      core.receive(source, actor('x:0'));
      core.receive(source, snapshot('x:0', 'idle'));
      core.receive(source, snapshot('x:0', { session: 'open' }));
      core.receive(source, actor('x:1', { name: 'socket', parentId: 'x:0' }));
      core.receive(source, snapshot('x:1', null));
      for (let i = 0; i < 10; i++) core.receive(source, event('x:1', `write.${i}`));

      const late = page();
      core.addPage(late.sink);
      const messages = inspection(late.frames) as RelayedInspectionMessage[];
      expect(messages.map((message) => `${message.type} ${message.sessionId}`)).toEqual([
        '@xstate.actor s1:x:0',
        '@xstate.actor s1:x:1',
        '@xstate.snapshot s1:x:0',
        '@xstate.snapshot s1:x:1',
        '@xstate.event s1:x:1',
        '@xstate.event s1:x:1',
        '@xstate.event s1:x:1',
      ]);
      expect((messages[2]?.snapshot as { value: unknown }).value).toEqual({ session: 'open' });
      expect(messages.slice(4).map((message) => (message.event as { type: string }).type)).toEqual(['write.7', 'write.8', 'write.9']);
    });

    it('replays a latest snapshot inside the window there, after the older ones', () => {
      const core = createRelayCore({ replayLimit: 10 });
      const source = core.openSource();
      core.receive(source, actor('x:0'));
      core.receive(source, snapshot('x:0', 'idle'));
      core.receive(source, snapshot('x:0', 'open'));
      const values = inspection(core.replay().map((frame) => JSON.parse(frame) as Record<string, unknown>))
        .filter((message) => message.type === '@xstate.snapshot')
        .map((message) => (message.snapshot as { value: unknown }).value);
      expect(values).toEqual(['idle', 'open']);
    });

    it('keeps at most replayLimit events and snapshots besides the latest per session', () => {
      const core = createRelayCore({ replayLimit: 100 });
      const source = core.openSource();
      core.receive(source, actor('x:0'));
      for (let i = 0; i < 5000; i++) core.receive(source, event('x:0', `e${i}`));
      expect(core.stats().replayBuffered).toBe(100);
      expect(core.replay()).toHaveLength(1 + 1 + 100);
    });

    it('forgets stopped actors first when there are too many sessions', () => {
      const core = createRelayCore({ maxSessions: 3 });
      const source = core.openSource();
      core.receive(source, actor('x:0'));
      for (let i = 1; i <= 5; i++) {
        core.receive(source, actor(`x:${i}`, { name: 'socket', parentId: 'x:0' }));
        core.receive(source, snapshot(`x:${i}`, null, 'stopped'));
      }
      const sessions = inspection(core.replay().map((frame) => JSON.parse(frame) as Record<string, unknown>))
        .filter((message) => message.type === '@xstate.actor')
        .map((message) => message.sessionId);
      expect(sessions).toEqual(['s1:x:0', 's1:x:4', 's1:x:5']);
      expect(core.stats().sessions).toBe(3);
    });
  });

  describe('garbage from a source', () => {
    const garbage: Array<[string, unknown]> = [
      ['binary', Buffer.from([1, 2, 3])],
      ['not-json', '{"type":'],
      ['not-json', ''],
      ['not-inspection', 'null'],
      ['not-inspection', '[1,2]'],
      ['not-inspection', '"@xstate.actor"'],
      ['not-inspection', '{"type":"@xstate.microstep","sessionId":"x:0"}'],
      ['not-inspection', '{"sessionId":"x:0"}'],
      ['bad-session', '{"type":"@xstate.event","event":{"type":"a"}}'],
      ['bad-session', '{"type":"@xstate.event","sessionId":42}'],
      ['bad-session', '{"type":"@xstate.snapshot","sessionId":""}'],
      ['too-large', `{"type":"@xstate.event","sessionId":"x:0","pad":"${'x'.repeat(2000)}"}`],
    ];

    it.each(garbage)('drops a %s frame without throwing and relays nothing', (reason, frame) => {
      const core = createRelayCore({ maxFrameLength: 1000 });
      const viewer = page();
      core.addPage(viewer.sink);
      const source = core.openSource();
      const result = core.receive(source, frame);
      expect(result).toMatchObject({ ok: false, reason });
      expect(inspection(viewer.frames)).toEqual([]);
      expect(core.stats()).toMatchObject({ received: 1, rejected: 1, relayed: 0 });
    });

    it('drops frames from a source that is closed or unknown', () => {
      const core = createRelayCore();
      const source = core.openSource();
      core.closeSource(source);
      expect(core.receive(source, actor('x:0'))).toMatchObject({ ok: false, reason: 'unknown-source' });
      expect(core.receive('s99', actor('x:0'))).toMatchObject({ ok: false, reason: 'unknown-source' });
    });

    it('keeps relaying good frames between bad ones', () => {
      const core = createRelayCore();
      const viewer = page();
      core.addPage(viewer.sink);
      const source = core.openSource();
      for (const frame of ['}{', actor('x:0'), 'null', snapshot('x:0', 'idle'), new Uint8Array(3)]) core.receive(source, frame);
      expect(inspection(viewer.frames).map((frame) => frame.type)).toEqual(['@xstate.actor', '@xstate.snapshot']);
    });
  });

  it('validates its options', () => {
    expect(() => createRelayCore({ replayLimit: -1 })).toThrow(RangeError);
    expect(() => createRelayCore({ maxSessions: 1.5 })).toThrow(/maxSessions must be a whole number/);
  });
});
