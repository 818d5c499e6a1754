import { describe, expect, it } from 'vitest';
import { caughtUp, channelsLine, summaryLine, untilCaughtUp, type ChannelView, type ServerView } from '../../scripts/demo/summary.js';
import type { ChannelStatus } from '../../src/channel.js';

function fakeConnection() {
  return {
    history: [{ state: 'idle' }, { state: 'connecting' }, { state: 'open' }, { state: 'closed' }],
    getStatus: () => ({ counters: { received: 80, rejected: 0, sent: 1, renders: 70, reconnects: 0 } }),
  } as unknown as Parameters<typeof summaryLine>[0];
}

function fakeChannel(name: string, position: { epoch: string; seq: number } | null, data: Record<string, unknown>): ChannelView {
  return { name, model: { position: () => position, getData: () => data as never } };
}

function fakeServer(channels: Record<string, { seq: number; data: Record<string, unknown> }>): ServerView {
  return {
    core: {
      channelState: (name: string) => {
        const channel = channels[name];
        if (channel === undefined) throw new Error(`no channel ${name}`);
        return { epoch: 'e1', ...channel };
      },
    },
  };
}

function status(channel: string, extra: Partial<ChannelStatus> = {}): ChannelStatus {
  return { channel, state: 'subscribed', live: true, lastError: null, retryDelayMs: null, resubscribes: 0, presenceError: null, ...extra };
}

describe('demo summary', () => {
  it('says each channel equals the server data when both are at the same seq', () => {
    const server = fakeServer({ prices: { seq: 80, data: { a: 1, b: 2 } }, notes: { seq: 3, data: { n: 'x' } } });
    const line = summaryLine(fakeConnection(), [fakeChannel('prices', { epoch: 'e1', seq: 80 }, { b: 2, a: 1 }), fakeChannel('notes', { epoch: 'e1', seq: 3 }, { n: 'x' })], server);
    expect(line).toBe(
      "summary: idle → connecting → open → closed · received 80, rejected 0, sent 1, renders 70, reconnects 0 · prices: model equals the server's data at seq 80 · notes: model equals the server's data at seq 3",
    );
  });

  it('does not call a model one patch behind different: it says where each stands', () => {
    const line = summaryLine(fakeConnection(), [fakeChannel('prices', { epoch: 'e1', seq: 79 }, { a: 1 })], fakeServer({ prices: { seq: 80, data: { a: 2 } } }));
    expect(line).toMatch(/· prices: model is at seq 79, behind the server's seq 80 \(not compared\)$/);
    expect(line).not.toContain('DIFFERS');
  });

  it('reports a real difference at the same seq', () => {
    const line = summaryLine(fakeConnection(), [fakeChannel('notes', { epoch: 'e1', seq: 80 }, { a: 1 })], fakeServer({ notes: { seq: 80, data: { a: 2 } } }));
    expect(line).toMatch(/notes: model DIFFERS FROM the server's data at seq 80$/);
  });

  it('is not caught up on another epoch or without a position', () => {
    const server = fakeServer({ prices: { seq: 80, data: {} } });
    expect(caughtUp(fakeChannel('prices', { epoch: 'e0', seq: 80 }, {}), server)).toBe(false);
    expect(caughtUp(fakeChannel('prices', null, {}), server)).toBe(false);
  });

  it('resolves at once when every channel is caught up', async () => {
    const server = fakeServer({ prices: { seq: 3, data: {} }, notes: { seq: 1, data: {} } });
    await untilCaughtUp([fakeChannel('prices', { epoch: 'e1', seq: 3 }, {}), fakeChannel('notes', { epoch: 'e1', seq: 1 }, {})], server, 60_000);
  });

  it('lists each channel live, stale or failed, with who is here', () => {
    const here = [{ client: 'c1', user: 'terminal', joinedAt: 1 }, { client: 'c2', user: null, joinedAt: 2 }];
    expect(
      channelsLine([
        { status: status('prices') },
        { status: status('notes'), members: here },
        { status: status('admin/audit', { state: 'failed', live: false, lastError: { code: 'ERR_CHANNEL_FORBIDDEN', message: 'no' } }) },
        { status: status('room', { state: 'subscribing', live: false }) },
      ]),
    ).toBe('channels: prices live · notes live (here: terminal, c2) · admin/audit failed ERR_CHANNEL_FORBIDDEN · room stale (subscribing)');
  });
});
