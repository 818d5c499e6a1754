import { describe, expect, it } from 'vitest';
import type { OutboxEntry } from '../../machines/connection.types.js';
import { memberName } from '../../app/channels.js';
import {
  canRetry,
  channelChip,
  channelErrorText,
  hereText,
  memberRows,
  countdownText,
  errorText,
  inputFromValue,
  pendingChanges,
  stateText,
  tableRows,
  toggleLabel,
  valueFromInput,
} from '../../app/present.js';
import type { ChannelStatus } from '../../src/channel.js';
import type { ConnectionStatus } from '../../src/types.js';
import { makeStatus } from '../support/status.js';

function entry(id: number, op: object | string, ackId?: string): OutboxEntry {
  const frame = typeof op === 'string' ? op : JSON.stringify(op);
  return ackId === undefined ? { id, frame, sent: false } : { id, frame, ackId, sent: false };
}

function status(overrides: Partial<ConnectionStatus> = {}): ConnectionStatus {
  return makeStatus({ ...overrides });
}

describe('pending edits', () => {
  it('takes the latest unacknowledged change per key of one channel from the outbox', () => {
    const pending = pendingChanges(
      [
        entry(1, { type: 'op', channel: 'notes', n: 1, set: { x: 1, y: 2 } }, 'a'),
        entry(2, { type: 'op', channel: 'notes', n: 2, delete: ['y'] }, 'b'),
        entry(3, { re: 1700000000000, type: 'op', channel: 'notes', n: 3, set: { x: 3 } }, 'c'), // a resend
        entry(4, '{"type":"ping"}'), // no ackId: not an edit
        entry(5, 'not json', 'd'),
        entry(6, { type: 'op', channel: 'other', n: 1, set: { x: 'elsewhere', z: 1 } }, 'e'), // another channel's
      ],
      'notes',
    );
    expect([...pending]).toEqual([
      ['x', { kind: 'set', value: 3 }],
      ['y', { kind: 'delete' }],
    ]);
  });

  it('lays pending edits over the data, marked, in key order', () => {
    const rows = tableRows(
      { a: 1, b: 'two', c: true },
      new Map([
        ['b', { kind: 'delete' }],
        ['new', { kind: 'set', value: '<img src=x>' }],
        ['a', { kind: 'set', value: 10 }],
      ] as const),
    );
    expect(rows).toEqual([
      { key: 'a', cells: ['a', '10', 'pending'], state: 'pending' },
      { key: 'b', cells: ['b', 'two', 'pending delete'], state: 'pending-delete' },
      { key: 'c', cells: ['c', 'true', ''] },
      { key: 'new', cells: ['new', '<img src=x>', 'pending'], state: 'pending' },
    ]);
  });
});

describe('channels', () => {
  const channel = (overrides: Partial<ChannelStatus> = {}): ChannelStatus => ({
    channel: 'notes',
    state: 'subscribed',
    live: true,
    lastError: null,
    retryDelayMs: null,
    resubscribes: 0,
    presenceError: null,
    ...overrides,
  });

  it('shows a channel live, stale while it resubscribes, or failed with its error', () => {
    expect(channelChip(channel())).toEqual({ look: 'live', text: 'live' });
    expect(channelChip(channel({ state: 'subscribing', live: false }))).toEqual({ look: 'stale', text: 'stale · subscribing' });
    const forbidden = channel({ channel: 'admin/audit', state: 'failed', live: false, lastError: { code: 'ERR_CHANNEL_FORBIDDEN', message: 'user "ann" may not subscribe to admin/audit' } });
    expect(channelChip(forbidden)).toEqual({ look: 'failed', text: 'failed' });
    expect(channelErrorText(forbidden)).toBe('ERR_CHANNEL_FORBIDDEN: user "ann" may not subscribe to admin/audit');
    expect(channelErrorText(channel())).toBe('');
  });

  it('lists who is here by user, info name or client id, marking this page', () => {
    const members = [
      { client: 'c1', user: 'ann', joinedAt: 1 },
      { client: 'c2', user: null, info: { name: 'bob' }, joinedAt: 2 },
      { client: 'c3', user: null, joinedAt: 3 },
    ];
    expect(memberRows(members, 'c2')).toEqual([
      { key: 'c1/ann', cells: ['ann', ''], state: undefined },
      { key: 'c2/', cells: ['bob', 'you'], state: 'self' },
      { key: 'c3/', cells: ['c3', ''], state: undefined },
    ]);
    expect(hereText(members)).toBe('3 here');
    expect(hereText([])).toBe('nobody yet');
  });

  it('names a page from ?name= when it is a member name, else guest-NNNN', () => {
    expect(memberName('ann', () => 0.5)).toBe('ann');
    expect(memberName('<b>', () => 0.0042)).toBe('guest-0042');
    expect(memberName(null, () => 0.9999)).toBe('guest-9999');
  });
});

describe('form values', () => {
  it.each([
    ['42', 42],
    ['true', true],
    ['{"a":1}', { a: 1 }],
    ['"42"', '42'],
    ['hello', 'hello'],
    ['<img src=x onerror=alert(1)>', '<img src=x onerror=alert(1)>'],
    ['', ''],
  ] as const)('reads %j as %j and shows it back the same', (text, value) => {
    expect(valueFromInput(text)).toEqual(value);
    expect(valueFromInput(inputFromValue(value as never))).toEqual(value);
  });
});

describe('status texts', () => {
  it('says when the machine waits for the network', () => {
    expect(stateText(status({ state: 'errored', online: false }))).toBe('errored · offline');
    expect(stateText(status({ state: 'errored', pageHidden: true }))).toBe('errored · waiting for the page');
    expect(stateText(status({ state: 'connecting' }))).toBe('connecting');
  });

  it('counts down to the next retry', () => {
    expect(countdownText(status({ state: 'errored', nextRetryAt: 2_340 }), 1_000)).toBe('retry in 1.3 s');
    expect(countdownText(status(), 1_000)).toBe('');
  });

  it('shows the last error with its close code while not open', () => {
    const lastError = { code: 'ERR_ABNORMAL_CLOSE', closeCode: 1006 } as const;
    expect(errorText(status({ state: 'errored', lastError }))).toBe('ERR_ABNORMAL_CLOSE (close 1006)');
    expect(errorText(status({ state: 'open', lastError }))).toBe('');
  });

  it.each([
    ['open', 'Disconnect', false],
    ['connecting', 'Disconnect', false],
    ['errored', 'Disconnect', true],
    ['closed', 'Connect', true],
    ['idle', 'Connect', false],
  ] as const)('in %s the toggle says %s and Retry now is enabled: %s', (state, label, retry) => {
    expect(toggleLabel(status({ state }))).toBe(label);
    expect(canRetry(status({ state }))).toBe(retry);
  });
});
