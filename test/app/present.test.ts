import { describe, expect, it } from 'vitest';
import type { OutboxEntry } from '../../machines/connection.types.js';
import {
  canRetry,
  countdownText,
  errorText,
  inputFromValue,
  pendingChanges,
  stateText,
  tableRows,
  toggleLabel,
  valueFromInput,
} from '../../app/present.js';
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
  it('takes the latest unacknowledged change per key from the outbox', () => {
    const pending = pendingChanges([
      entry(1, { type: 'op', id: 'a', set: { x: 1, y: 2 } }, 'a'),
      entry(2, { type: 'op', id: 'b', delete: ['y'] }, 'b'),
      entry(3, { type: 'op', id: 'c', set: { x: 3 } }, 'c'),
      entry(4, '{"type":"ping"}'), // no ackId: not an edit
      entry(5, 'not json', 'd'),
    ]);
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
