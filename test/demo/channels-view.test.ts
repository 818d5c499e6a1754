import { describe, expect, it } from 'vitest';
import { channelHeading, createDemoPrinter, renderDemoFrame, type ChannelBlock } from '../../scripts/demo/channels-view.js';
import type { ChannelStatus } from '../../src/channel.js';
import type { ConnectionStatus } from '../../src/types.js';

const open = {
  state: 'open',
  attempt: 0,
  nextRetryAt: null,
  lastError: null,
  outboxSize: 0,
  counters: { received: 5, rejected: 0, sent: 2, renders: 4, reconnects: 0, dropped: 0 },
} as unknown as ConnectionStatus;

function status(channel: string, extra: Partial<ChannelStatus> = {}): ChannelStatus {
  return { channel, state: 'subscribed', live: true, lastError: null, retryDelayMs: null, resubscribes: 0, presenceError: null, ...extra };
}

const forbidden: ChannelBlock = {
  status: status('admin/audit', { state: 'failed', live: false, lastError: { code: 'ERR_CHANNEL_FORBIDDEN', message: 'user "terminal" may not subscribe to admin/audit' } }),
  data: {},
};
const notes: ChannelBlock = { status: status('notes'), data: { welcome: 'hi' }, members: [{ client: 'c1', user: 'terminal', joinedAt: 1 }] };

describe('demo terminal view', () => {
  it('heads each channel with its status, keys and members, and a failed one with its error', () => {
    expect(channelHeading(notes)).toBe('notes · live · 1 key · here: terminal');
    expect(channelHeading({ status: status('prices', { state: 'subscribing', live: false }), data: { a: 1, b: 2 } })).toBe('prices · stale (subscribing) · 2 keys');
    expect(channelHeading(forbidden)).toBe('admin/audit · failed ERR_CHANNEL_FORBIDDEN: user "terminal" may not subscribe to admin/audit');
  });

  it('fits every channel in the frame, cutting long tables and saying how many keys did not fit', () => {
    const prices: ChannelBlock = { status: status('prices'), data: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${String(i).padStart(2, '0')}`, i])) };
    const lines = renderDemoFrame({ title: 'demo', status: open, channels: [prices, notes, forbidden], now: 0, columns: 120, rows: 20 });
    expect(lines.length).toBeLessThanOrEqual(19);
    expect(lines).toContain('prices · live · 30 keys');
    expect(lines.some((line) => /^ {2}… \d+ more keys$/.test(line))).toBe(true);
    expect(lines).toContain('notes · live · 1 key · here: terminal');
    expect(lines.at(-1)).toBe('admin/audit · failed ERR_CHANNEL_FORBIDDEN: user "terminal" may not subscribe to admin/audit');
  });

  it('prints a line per change of state, channel status or members, and data at most once per interval', () => {
    const printer = createDemoPrinter({ modelEveryMs: 1000 });
    expect(printer.update(open, [notes, forbidden], 0)).toEqual([
      'state open · attempt 0',
      'channel notes · live · here: terminal',
      '  notes 1 key: welcome="hi"',
      'channel admin/audit · failed ERR_CHANNEL_FORBIDDEN: user "terminal" may not subscribe to admin/audit',
    ]);
    const edited = { ...notes, data: { welcome: 'edited' } };
    expect(printer.update(open, [edited, forbidden], 500)).toEqual([]);
    const joined = { ...edited, members: [...notes.members!, { client: 'c2', user: 'guest-0042', joinedAt: 2 }] };
    expect(printer.update(open, [joined, forbidden], 1000)).toEqual(['channel notes · live · here: terminal, guest-0042', '  notes 1 key: welcome="edited"']);
  });
});
