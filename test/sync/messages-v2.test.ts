/**
 * Version 2's frames (src/sync/messages-v2.ts, docs/protocol.md): for every frame type each
 * way, frames the validators accept and frames they refuse, with the field the problem names;
 * hostile values (huge and negative numbers, names of the wrong kind, length or alphabet,
 * `__proto__`); and the codes and defaults the document's tables must list.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServerErrorCode, SyncCloseCode } from '../../src/sync/messages.js';
import {
  DEFAULT_CHANNEL,
  DEFAULT_V2_LIMITS,
  ErrorCodeV2,
  MAX_NAME_LENGTH,
  MIN_MESSAGE_BYTES,
  SyncCloseCodeV2,
  isChannelName,
  isClientId,
  parseClientFrameV2,
  parseHello,
  parseServerFrameV2,
  parseServerFrameV2ByTable,
} from '../../src/sync/messages-v2.js';

const DOC = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

/** Through JSON, as frames arrive: what `JSON.parse` makes of it (own `__proto__` keys included). */
const wire = (frame: unknown): unknown => JSON.parse(JSON.stringify(frame));

const long = (length: number) => 'a'.repeat(length);
const member = { client: 'c1', user: 'ann', info: { name: 'Ann' }, joinedAt: 1_700_000_000_000 };

/** Valid frames of each type, and invalid ones with the `type.field` their problem names first. */
interface Cases {
  valid: Record<string, unknown>[];
  invalid: Array<[frame: Record<string, unknown>, field: string]>;
}

const CLIENT: Record<string, Cases> = {
  hello: {
    valid: [
      { type: 'hello', v: 2, client: 'c1' },
      { type: 'hello', v: 2, client: '3f0c8a3e-6c1b-4f55-9b0e-0d6a8f1e2b7c', token: 't', maxMessageBytes: MIN_MESSAGE_BYTES },
      { type: 'hello', v: 2, client: long(MAX_NAME_LENGTH), maxMessageBytes: 2 ** 53 - 1, extra: [1] },
    ],
    invalid: [
      [{ type: 'hello', v: 2 }, 'hello.client'],
      [{ type: 'hello', v: 2, client: '' }, 'hello.client'],
      [{ type: 'hello', v: 2, client: long(MAX_NAME_LENGTH + 1) }, 'hello.client'],
      [{ type: 'hello', v: 2, client: 'a b' }, 'hello.client'],
      [{ type: 'hello', v: 2, client: '__proto__' }, 'hello.client'],
      [{ type: 'hello', v: 2, client: 7 }, 'hello.client'],
      [{ type: 'hello', v: 2, client: 'c', maxMessageBytes: MIN_MESSAGE_BYTES - 1 }, 'hello.maxMessageBytes'],
      [{ type: 'hello', v: 2, client: 'c', maxMessageBytes: 2 ** 53 }, 'hello.maxMessageBytes'],
      [{ type: 'hello', v: 2, client: 'c', token: 1 }, 'hello.token'],
      // A second hello of another version on a version 2 connection (parseHello judges the first).
      [{ type: 'hello', v: 1, client: 'c' }, 'hello.v'],
    ],
  },
  subscribe: {
    valid: [
      { type: 'subscribe', channel: 'prices' },
      { type: 'subscribe', channel: 'room/42', epoch: 'k3j2h1g0f9e8d7', since: 0, presence: true, acked: 0 },
      { type: 'subscribe', channel: 'notes:ann@team.example', epoch: long(64), since: 2 ** 53 - 1, presence: false, acked: 12 },
      { type: 'subscribe', channel: DEFAULT_CHANNEL },
    ],
    invalid: [
      [{ type: 'subscribe' }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: 42 }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: ['prices'] }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: null }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: '' }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: 'a b' }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: 'prices*' }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: 'café' }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: 'line\nbreak' }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: long(MAX_NAME_LENGTH + 1) }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: '__proto__' }, 'subscribe.channel'],
      [{ type: 'subscribe', channel: 'p', epoch: 'e' }, 'subscribe.since'],
      [{ type: 'subscribe', channel: 'p', since: 3 }, 'subscribe.epoch'],
      [{ type: 'subscribe', channel: 'p', epoch: '', since: 3 }, 'subscribe.epoch'],
      [{ type: 'subscribe', channel: 'p', epoch: long(65), since: 3 }, 'subscribe.epoch'],
      [{ type: 'subscribe', channel: 'p', epoch: 'e', since: -1 }, 'subscribe.since'],
      [{ type: 'subscribe', channel: 'p', epoch: 'e', since: 1.5 }, 'subscribe.since'],
      [{ type: 'subscribe', channel: 'p', epoch: 'e', since: 1e300 }, 'subscribe.since'],
      [{ type: 'subscribe', channel: 'p', presence: 'yes' }, 'subscribe.presence'],
      [{ type: 'subscribe', channel: 'p', presence: 1 }, 'subscribe.presence'],
      [{ type: 'subscribe', channel: 'p', acked: -3 }, 'subscribe.acked'],
    ],
  },
  unsubscribe: {
    valid: [{ type: 'unsubscribe', channel: 'prices' }],
    invalid: [
      [{ type: 'unsubscribe' }, 'unsubscribe.channel'],
      [{ type: 'unsubscribe', channel: {} }, 'unsubscribe.channel'],
      [{ type: 'unsubscribe', channel: 'no spaces' }, 'unsubscribe.channel'],
    ],
  },
  op: {
    valid: [
      { type: 'op', channel: 'notes', n: 1, set: { title: 'x' } },
      { type: 'op', channel: 'notes', n: 2 ** 53 - 1, delete: ['title'], re: 1_700_000_000_000 },
      { type: 'op', channel: 'notes', n: 7, re: 0, set: { a: null, b: [1, { c: 'd' }] }, delete: [] },
      // The frame's shape only: an empty op is the value rule's to refuse (settled, as op 3).
      { type: 'op', channel: 'notes', n: 3 },
    ],
    invalid: [
      [{ type: 'op', n: 1, set: {} }, 'op.channel'],
      [{ type: 'op', channel: 5, n: 1 }, 'op.channel'],
      [{ type: 'op', channel: 'no spaces', n: 1 }, 'op.channel'],
      [{ type: 'op', channel: 'notes' }, 'op.n'],
      [{ type: 'op', channel: 'notes', n: 0 }, 'op.n'],
      [{ type: 'op', channel: 'notes', n: -1 }, 'op.n'],
      [{ type: 'op', channel: 'notes', n: 1.5 }, 'op.n'],
      [{ type: 'op', channel: 'notes', n: 2 ** 53 }, 'op.n'],
      [{ type: 'op', channel: 'notes', n: 1e300 }, 'op.n'],
      [{ type: 'op', channel: 'notes', n: '1' }, 'op.n'],
      [{ type: 'op', channel: 'notes', n: 1, re: true }, 'op.re'],
      [{ type: 'op', channel: 'notes', n: 1, re: -1 }, 'op.re'],
      [{ type: 'op', channel: 'notes', n: 1, set: [1] }, 'op.set'],
      [{ type: 'op', channel: 'notes', n: 1, set: 'x' }, 'op.set'],
      [{ type: 'op', channel: 'notes', n: 1, delete: ['a', 1] }, 'op.delete'],
      [{ type: 'op', channel: 'notes', n: 1, delete: 'a' }, 'op.delete'],
    ],
  },
  changes: {
    valid: [
      { type: 'changes', channel: 'notes', ref: 0, limit: 50 },
      { type: 'changes', channel: 'notes', ref: 9, since: 0, limit: 1 },
      { type: 'changes', channel: 'notes', ref: 9, since: 12, epoch: 'e', limit: 2 ** 53 - 1 },
    ],
    invalid: [
      [{ type: 'changes', channel: 'notes', limit: 5 }, 'changes.ref'],
      [{ type: 'changes', channel: 'notes', ref: -1, limit: 5 }, 'changes.ref'],
      [{ type: 'changes', channel: 'notes', ref: 1 }, 'changes.limit'],
      [{ type: 'changes', channel: 'notes', ref: 1, limit: 0 }, 'changes.limit'],
      [{ type: 'changes', channel: 'notes', ref: 1, limit: -5 }, 'changes.limit'],
      [{ type: 'changes', channel: 'notes', ref: 1, limit: 5, since: -1 }, 'changes.since'],
      [{ type: 'changes', channel: 'notes', ref: 1, limit: 5, epoch: 'e' }, 'changes.since'],
      [{ type: 'changes', ref: 1, limit: 5 }, 'changes.channel'],
    ],
  },
  auth: {
    valid: [{ type: 'auth', token: 'fresh' }],
    invalid: [
      [{ type: 'auth' }, 'auth.token'],
      [{ type: 'auth', token: null }, 'auth.token'],
    ],
  },
  ping: { valid: [{ type: 'ping' }, { type: 'ping', at: 5 }], invalid: [] },
};

const SERVER: Record<string, Cases> = {
  welcome: {
    valid: [
      { type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1_048_576, time: 1_700_000_000_000 },
      { type: 'welcome', v: 2, client: 'c1', user: 'ann', maxMessageBytes: 1, time: 0, expiresAt: 1_700_000_600_000, expiresInMs: 600_000 },
    ],
    invalid: [
      [{ type: 'welcome', v: 1, client: 'c1', user: null, maxMessageBytes: 1, time: 0 }, 'welcome.v'],
      [{ type: 'welcome', v: 2, client: 'c1', maxMessageBytes: 1, time: 0 }, 'welcome.user'],
      [{ type: 'welcome', v: 2, client: 'c1', user: '', maxMessageBytes: 1, time: 0 }, 'welcome.user'],
      [{ type: 'welcome', v: 2, client: 'c1', user: long(129), maxMessageBytes: 1, time: 0 }, 'welcome.user'],
      [{ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 0, time: 0 }, 'welcome.maxMessageBytes'],
      [{ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1, time: -1 }, 'welcome.time'],
      [{ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1, time: 0, expiresAt: 5 }, 'welcome.expiresInMs'],
      [{ type: 'welcome', v: 2, client: 'a b', user: null, maxMessageBytes: 1, time: 0 }, 'welcome.client'],
    ],
  },
  snapshot: {
    valid: [
      { type: 'snapshot', channel: 'prices', epoch: 'e', seq: 0, data: {} },
      { type: 'snapshot', channel: 'prices', epoch: 'e', seq: 41, data: { 'BTC-USD': 64000, nested: { a: [null] } } },
    ],
    invalid: [
      [{ type: 'snapshot', epoch: 'e', seq: 0, data: {} }, 'snapshot.channel'],
      [{ type: 'snapshot', channel: 'prices', epoch: 1, seq: 0, data: {} }, 'snapshot.epoch'],
      [{ type: 'snapshot', channel: 'prices', epoch: 'e', seq: -1, data: {} }, 'snapshot.seq'],
      [{ type: 'snapshot', channel: 'prices', epoch: 'e', seq: 0, data: [] }, 'snapshot.data'],
      [{ type: 'snapshot', channel: 'prices', epoch: 'e', seq: 0, data: null }, 'snapshot.data'],
    ],
  },
  patch: {
    valid: [
      { type: 'patch', channel: 'prices', epoch: 'e', seq: 1, set: { a: 1 } },
      { type: 'patch', channel: 'prices', epoch: 'e', seq: 2 ** 53 - 1, delete: ['a'] },
    ],
    invalid: [
      [{ type: 'patch', channel: 'prices', epoch: 'e', seq: 0, set: {} }, 'patch.seq'],
      [{ type: 'patch', channel: 'prices', epoch: 'e', seq: 1, set: [] }, 'patch.set'],
      [{ type: 'patch', channel: 'prices', epoch: 'e', seq: 1, delete: [null] }, 'patch.delete'],
      [{ type: 'patch', channel: 'PRICES NOW', epoch: 'e', seq: 1 }, 'patch.channel'],
    ],
  },
  synced: {
    valid: [
      { type: 'synced', channel: 'prices', epoch: 'e', seq: 0 },
      { type: 'synced', channel: 'prices', epoch: 'e', seq: 44, mark: 3 },
    ],
    invalid: [
      [{ type: 'synced', channel: 'prices', epoch: 'e' }, 'synced.seq'],
      [{ type: 'synced', channel: 'prices', epoch: 'e', seq: 1, mark: 0 }, 'synced.mark'],
    ],
  },
  unsubscribed: {
    valid: [
      { type: 'unsubscribed', channel: 'prices' },
      { type: 'unsubscribed', channel: 'secret', code: 'ERR_CHANNEL_FORBIDDEN', message: 'not allowed' },
      { type: 'unsubscribed', channel: 'busy', code: 'ERR_CHANNEL_UNAVAILABLE', message: 'later', retryAfterMs: 5000 },
      // A refused name is echoed as sent: it need not be a valid name.
      { type: 'unsubscribed', channel: 'a b', code: 'ERR_INVALID_CHANNEL', message: 'bad name' },
      { type: 'unsubscribed', channel: '', code: 'ERR_INVALID_CHANNEL', message: 'bad name' },
    ],
    invalid: [
      [{ type: 'unsubscribed', channel: 'p', code: 'ERR_CHANNEL_FORBIDDEN' }, 'unsubscribed.message'],
      [{ type: 'unsubscribed', channel: 'p', message: 'why' }, 'unsubscribed.code'],
      [{ type: 'unsubscribed', channel: 'p', retryAfterMs: 5 }, 'unsubscribed.code'],
      [{ type: 'unsubscribed', channel: 'p', code: 'forbidden', message: 'x' }, 'unsubscribed.code'],
      [{ type: 'unsubscribed', channel: long(MAX_NAME_LENGTH + 1) }, 'unsubscribed.channel'],
      [{ type: 'unsubscribed', channel: 3 }, 'unsubscribed.channel'],
    ],
  },
  ack: {
    valid: [{ type: 'ack', channel: 'notes', n: 4 }],
    invalid: [
      [{ type: 'ack', channel: 'notes', n: 0 }, 'ack.n'],
      [{ type: 'ack', channel: 'notes', id: 'x' }, 'ack.n'],
      [{ type: 'ack', n: 4 }, 'ack.channel'],
    ],
  },
  error: {
    valid: [
      { type: 'error', code: 'ERR_INVALID_FRAME', message: 'type: expected one of …' },
      { type: 'error', code: 'ERR_DATA_LIMIT', message: 'too big', channel: 'notes', n: 9 },
      { type: 'error', code: 'ERR_NOT_SUBSCRIBED', message: 'subscribe first', channel: 'notes' },
      { type: 'error', code: 'ERR_NOT_SUBSCRIBED', message: 'subscribe first', channel: 'notes', ref: 0 },
    ],
    invalid: [
      [{ type: 'error', code: 'ERR_DATA_LIMIT', message: 'x', n: 9 }, 'error.channel'],
      [{ type: 'error', message: 'x' }, 'error.code'],
      [{ type: 'error', code: 'ERR_X' }, 'error.message'],
      [{ type: 'error', code: 'ERR_X', message: 'x', channel: 'notes', n: -9 }, 'error.n'],
    ],
  },
  changelog: {
    valid: [
      { type: 'changelog', channel: 'notes', ref: 1, epoch: 'e', patches: [], more: false },
      { type: 'changelog', channel: 'notes', ref: 1, epoch: 'e', patches: [{ seq: 1, set: { a: 1 } }, { seq: 2, delete: ['a'] }], more: true, gap: true },
    ],
    invalid: [
      [{ type: 'changelog', channel: 'notes', ref: 1, epoch: 'e', patches: [{ seq: 0 }], more: false }, 'changelog.patches'],
      [{ type: 'changelog', channel: 'notes', ref: 1, epoch: 'e', patches: [{ seq: 1, set: 3 }], more: false }, 'changelog.patches'],
      [{ type: 'changelog', channel: 'notes', ref: 1, epoch: 'e', patches: {}, more: false }, 'changelog.patches'],
      [{ type: 'changelog', channel: 'notes', ref: 1, epoch: 'e', patches: [] }, 'changelog.more'],
      [{ type: 'changelog', channel: 'notes', epoch: 'e', patches: [], more: false }, 'changelog.ref'],
    ],
  },
  presence: {
    valid: [
      { type: 'presence', channel: 'room', members: [] },
      { type: 'presence', channel: 'room', members: [member, { client: 'c2', user: null, joinedAt: 0 }] },
    ],
    invalid: [
      [{ type: 'presence', channel: 'room', members: [{ ...member, joinedAt: 'now' }] }, 'presence.members'],
      [{ type: 'presence', channel: 'room', members: [{ ...member, client: '__proto__' }] }, 'presence.members'],
      [{ type: 'presence', channel: 'room', members: [{ ...member, info: 'Ann' }] }, 'presence.members'],
      [{ type: 'presence', channel: 'room', members: [null] }, 'presence.members'],
      [{ type: 'presence', channel: 'room' }, 'presence.members'],
    ],
  },
  join: {
    valid: [{ type: 'join', channel: 'room', member }],
    invalid: [
      [{ type: 'join', channel: 'room', member: { ...member, user: 3 } }, 'join.member'],
      [{ type: 'join', channel: 'room' }, 'join.member'],
    ],
  },
  leave: {
    valid: [
      { type: 'leave', channel: 'room', client: 'c1', user: 'ann' },
      { type: 'leave', channel: 'room', client: 'c1', user: null },
    ],
    invalid: [
      [{ type: 'leave', channel: 'room', client: 'c1' }, 'leave.user'],
      [{ type: 'leave', channel: 'room', user: null }, 'leave.client'],
    ],
  },
  chunk: {
    valid: [
      { type: 'chunk', id: 0, channel: 'big', i: 0, count: 3, bytes: 9000, data: '{"type":"snap' },
      { type: 'chunk', id: 7, channel: 'big', i: 2, count: 3, bytes: 9000, data: '}' },
    ],
    invalid: [
      [{ type: 'chunk', id: 0, channel: 'big', i: 3, count: 3, bytes: 9000, data: '' }, 'chunk.i'],
      [{ type: 'chunk', id: 0, channel: 'big', i: -1, count: 3, bytes: 9000, data: '' }, 'chunk.i'],
      [{ type: 'chunk', id: 0, channel: 'big', i: 0, count: 0, bytes: 9000, data: '' }, 'chunk.count'],
      [{ type: 'chunk', id: 0, channel: 'big', i: 0, count: 1, bytes: 0, data: '' }, 'chunk.bytes'],
      [{ type: 'chunk', id: 'a', channel: 'big', i: 0, count: 1, bytes: 1, data: '' }, 'chunk.id'],
      [{ type: 'chunk', id: 0, i: 0, count: 1, bytes: 1, data: '' }, 'chunk.channel'],
      [{ type: 'chunk', id: 0, channel: 'big', i: 0, count: 1, bytes: 1, data: { type: 'snapshot' } }, 'chunk.data'],
    ],
  },
  refresh: {
    valid: [{ type: 'refresh', expiresAt: 1_700_000_060_000, expiresInMs: 60_000 }],
    invalid: [[{ type: 'refresh', expiresAt: 1 }, 'refresh.expiresInMs']],
  },
  authorized: {
    valid: [
      { type: 'authorized', user: 'ann' },
      { type: 'authorized', user: null, expiresAt: 2, expiresInMs: 1 },
    ],
    invalid: [
      [{ type: 'authorized' }, 'authorized.user'],
      [{ type: 'authorized', user: 'ann', expiresInMs: 1 }, 'authorized.expiresAt'],
    ],
  },
  pong: { valid: [{ type: 'pong' }], invalid: [] },
};

const sides = [
  { side: 'client → server', parse: parseClientFrameV2 as (value: unknown) => { ok: boolean; problem?: string; frame?: unknown }, cases: CLIENT },
  { side: 'server → client', parse: parseServerFrameV2 as (value: unknown) => { ok: boolean; problem?: string; frame?: unknown }, cases: SERVER },
];

describe.each(sides)('version 2 frames, $side', ({ parse, cases }) => {
  const valid = Object.entries(cases).flatMap(([type, { valid }]) => valid.map((frame) => [type, JSON.stringify(frame), frame] as const));
  const invalid = Object.entries(cases).flatMap(([type, { invalid }]) => invalid.map(([frame, field]) => [type, JSON.stringify(frame), frame, field] as const));

  it.each(valid)('accepts %s %s, as it is (no copy)', (_type, _text, frame) => {
    const parsed = wire(frame);
    const result = parse(parsed);
    expect(result).toEqual({ ok: true, frame: parsed });
    expect(result.frame).toBe(parsed);
  });

  it.each(invalid)('refuses %s %s, naming the field, what it expected and what it received', (_type, _text, frame, field) => {
    const result = parse(wire(frame));
    expect(result.ok).toBe(false);
    expect(result.problem).toMatch(new RegExp(`(^|; )${field.replace('.', '\\.')}: expected .+, received `));
  });

  it('refuses a frame of a type it does not know, naming the types it knows', () => {
    const known = Object.keys(cases);
    for (const type of ['PING', 'chunks', '', 'constructor', 'toString', '__proto__', 3, null, undefined]) {
      const result = parse(wire({ type, channel: 'x' }));
      expect(result.ok).toBe(false);
      expect(result.problem).toBe(
        `type: expected one of ${known.map((name) => `"${name}"`).join(', ')}, received ${type === undefined ? 'nothing (the field is missing)' : type === null ? 'null' : typeof type === 'number' ? `the number ${type}` : `the string ${JSON.stringify(type)}`}`,
      );
    }
  });

  it('refuses what is not a plain object', () => {
    for (const value of [null, 1, 'ping', [], [{ type: 'ping' }], true, new Date(0)]) {
      expect(parse(value)).toMatchObject({ ok: false, problem: expect.stringMatching(/^expected a (server|client) frame \(an object with a "type"\), received /) });
    }
  });

  it('covers every frame type of its side', () => {
    for (const [type, { valid }] of Object.entries(cases)) expect(valid.length, type).toBeGreaterThan(0);
  });
});

describe('hostile values', () => {
  it('keeps an own "__proto__" key a key: the frame is accepted, its prototype untouched', () => {
    const frame = JSON.parse('{"type":"op","channel":"notes","n":1,"set":{"__proto__":{"polluted":true}},"__proto__":{"x":1}}') as Record<string, unknown>;
    const result = parseClientFrameV2(frame);
    // The frame's shape holds; the value rule (checkChanges) refuses the key as op 1, settled.
    expect(result.ok).toBe(true);
    expect(Object.getPrototypeOf(frame)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses numbers JSON cannot carry or the protocol cannot count', () => {
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, -0.5, 2 ** 53, 1e308, -1]) {
      expect(parseClientFrameV2({ type: 'op', channel: 'notes', n }).ok, String(n)).toBe(false);
    }
    expect(parseClientFrameV2(wire({ type: 'op', channel: 'notes', n: 1e400 })).ok).toBe(false); // null on the wire
  });

  it('accepts objects without a prototype, as some parsers make them', () => {
    const frame = Object.assign(Object.create(null) as object, { type: 'subscribe', channel: 'p', epoch: 'e', since: 1 });
    expect(parseClientFrameV2(frame).ok).toBe(true);
  });

  it('refuses a frame of another class, even with the right fields', () => {
    class Frame {
      type = 'ping';
    }
    expect(parseClientFrameV2(new Frame())).toMatchObject({ ok: false, problem: expect.stringContaining('an object of class Frame') });
  });
});

describe('names', () => {
  it.each([
    ['prices', true],
    ['room/42', true],
    ['notes:ann@team.example', true],
    ['a-b_c.d', true],
    [long(MAX_NAME_LENGTH), true],
    ['', false],
    [long(MAX_NAME_LENGTH + 1), false],
    ['a b', false],
    ['a*', false],
    ['a?b', false],
    ['a#b', false],
    ['a%20b', false],
    ['ünï', false],
    ['tab\t', false],
    ['__proto__', false],
    [42, false],
    [null, false],
    [['prices'], false],
  ])('%j is a channel name: %s', (name, ok) => {
    expect(isChannelName(name)).toBe(ok);
    expect(isClientId(name)).toBe(ok);
  });

  it('answers the same after thousands of names (the names it found valid are remembered, boundedly)', () => {
    for (let i = 0; i < 3_000; i++) expect(isChannelName(`room-${i}`)).toBe(true);
    for (let i = 0; i < 3_000; i += 7) expect(isChannelName(`room-${i}`)).toBe(true);
    for (const name of ['a b', '', long(MAX_NAME_LENGTH + 1), '__proto__', 'room-1 ']) expect(isChannelName(name)).toBe(false);
  });
});

describe('what the server answers a refused client frame with', () => {
  it.each([
    [{ type: 'subscribe', channel: 'a b' }, 'ERR_INVALID_CHANNEL'],
    [{ type: 'subscribe', channel: long(129) }, 'ERR_INVALID_CHANNEL'],
    [{ type: 'subscribe', channel: '__proto__' }, 'ERR_INVALID_CHANNEL'],
    [{ type: 'unsubscribe', channel: '' }, 'ERR_INVALID_CHANNEL'],
    [{ type: 'op', channel: 'a b', n: 1, set: { a: 1 } }, 'ERR_INVALID_CHANNEL'],
    [{ type: 'changes', channel: 'a*', ref: 1, limit: 5 }, 'ERR_INVALID_CHANNEL'],
    // Something else is wrong as well, or the channel is not a string: the frame is invalid.
    [{ type: 'subscribe', channel: 'a b', since: -1 }, 'ERR_INVALID_FRAME'],
    [{ type: 'op', channel: 'a b', n: 0 }, 'ERR_INVALID_FRAME'],
    [{ type: 'subscribe', channel: 7 }, 'ERR_INVALID_FRAME'],
    [{ type: 'subscribe' }, 'ERR_INVALID_FRAME'],
    [{ type: 'pong' }, 'ERR_INVALID_FRAME'],
  ])('%j: %s', (frame, code) => {
    expect(parseClientFrameV2(frame)).toMatchObject({ ok: false, code });
  });
});

describe('the first frame: hello of any version', () => {
  it('tells version 1, version 2 and versions the server does not speak apart', () => {
    expect(parseHello({ type: 'hello', v: 1, epoch: 'e', since: 4, token: 't' })).toMatchObject({ ok: true, version: 1 });
    expect(parseHello({ type: 'hello', v: 2, client: 'c1' })).toMatchObject({ ok: true, version: 2 });
    for (const v of [0, 3, 1.5, -2, 2 ** 60]) expect(parseHello({ type: 'hello', v })).toMatchObject({ ok: true, version: 'unsupported' });
  });

  it.each([
    [{ type: 'hello' }, 'hello.v: expected a number, received nothing (the field is missing)'],
    [{ type: 'hello', v: '2', client: 'c1' }, 'hello.v: expected a number, received the string "2"'],
    [{ type: 'hello', v: null }, 'hello.v: expected a number, received null'],
    [{ type: 'hello', v: 1, since: -1 }, 'hello.since: expected a whole number >= 0, received the number -1'],
    [{ type: 'hello', v: 2 }, 'hello.client: expected a client id (1 to 128 characters of A-Z a-z 0-9 _ . : / @ -, not "__proto__"), received nothing (the field is missing)'],
    [{ type: 'op', channel: 'a', n: 1 }, 'expected a hello (an object with "type": "hello"), received an object whose type is the string "op"'],
    [[], 'expected a hello (an object with "type": "hello"), received an array of 0'],
  ])('refuses %j with ERR_INVALID_FRAME: %s', (value, problem) => {
    expect(parseHello(value)).toEqual({ ok: false, problem, code: 'ERR_INVALID_FRAME' });
  });
});

describe('codes and defaults', () => {
  it('keeps every version 1 error code and close code with its value', () => {
    for (const [name, code] of Object.entries(ServerErrorCode)) expect(ErrorCodeV2[name as keyof typeof ErrorCodeV2]).toBe(code);
    for (const [name, code] of Object.entries(SyncCloseCode)) expect(SyncCloseCodeV2[name as keyof typeof SyncCloseCodeV2]).toBe(code);
  });

  it('adds the two application close codes in the private range', () => {
    expect(SyncCloseCodeV2.CLIENT_REPLACED).toBe(4409);
    expect(SyncCloseCodeV2.TOKEN_EXPIRED).toBe(4419);
    expect(new Set(Object.values(SyncCloseCodeV2)).size).toBe(Object.values(SyncCloseCodeV2).length);
  });

  it('lists every error code in the document\'s table', () => {
    for (const code of Object.values(ErrorCodeV2)) expect(DOC, code).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });

  it('lists every close code in the document\'s table', () => {
    for (const code of Object.values(SyncCloseCodeV2)) expect(DOC, String(code)).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });

  it('states every default in the document\'s limits table', () => {
    const rows = DOC.split('\n').filter((line) => line.startsWith('| `'));
    for (const [name, value] of Object.entries(DEFAULT_V2_LIMITS)) {
      const row = rows.find((line) => new RegExp(`^\\| \`(hello\\.)?${name}\``).test(line) && line.includes(String(value)));
      expect(row, `a table row for ${name} with ${value}`).toBeDefined();
    }
    expect(DOC).toContain(`at least ${MIN_MESSAGE_BYTES}`);
  });
});

describe('the patch read field by field', () => {
  // parseServerFrameV2 checks a patch with direct reads (it comes by the thousand); the table is the rule
  const value = fc.oneof(
    fc.constantFrom(undefined, null, true, 0, -1, 1, 1.5, 2 ** 53, Number.NaN, '', 'a', '__proto__', 'prices', long(MAX_NAME_LENGTH + 1), 'bad name'),
    fc.string({ maxLength: 70 }),
    fc.integer(),
    fc.constantFrom({}, { x: 1 }, [], ['a'], ['a', 1], [1], Object.create(null) as object),
  );
  const patch = fc.record(
    { type: fc.constantFrom('patch', 'patch', 'patch', 'snapshot', 'Patch'), channel: value, epoch: value, seq: value, set: value, delete: value, extra: value },
    { requiredKeys: ['type'] },
  );

  it('accepts and refuses exactly the patches the table does, through JSON and not', () => {
    fc.assert(
      fc.property(patch, (frame) => {
        for (const candidate of [frame, wire(frame)]) {
          const fast = parseServerFrameV2(candidate);
          const table = parseServerFrameV2ByTable(candidate);
          expect(fast.ok).toBe(table.ok);
          if (fast.ok) expect(fast.frame).toBe(candidate);
          else expect(fast).toEqual(table);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('accepts a valid patch, and refuses one the table refuses with the table\'s problem', () => {
    const valid = wire({ type: 'patch', channel: 'prices', epoch: 'E', seq: 7, set: { a: 1 }, delete: ['b'] });
    expect(parseServerFrameV2(valid)).toEqual({ ok: true, frame: valid });
    expect(parseServerFrameV2(wire({ type: 'patch', channel: 'prices', epoch: 'E', seq: 0 }))).toEqual({
      ok: false,
      problem: 'patch.seq: expected a whole number >= 1, received the number 0',
    });
  });
});
