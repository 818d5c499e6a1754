/**
 * The conformance fixtures (docs/protocol-fixtures/*.json, format in its README.md) as data the
 * validators agree with: every file parses and follows the format; every frame a client sends
 * passes the validators of its session's version (version 2's, or version 1's after a
 * `hello {v: 1}`), except those marked invalid, which fail them; every frame a client expects is
 * one a server may send; every variable is bound before it is sent. The server replays the
 * scenarios in its own tests (a later step of issue 13).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseClientFrame, parseServerFrame } from '../../src/sync/messages.js';
import { MIN_MESSAGE_BYTES, SyncCloseCodeV2, isChannelName, parseClientFrameV2, parseHello, parseServerFrameV2 } from '../../src/sync/messages-v2.js';
import { checkChanges } from '../../src/sync/values.js';
import {
  FIXTURES_DIR,
  SCENARIO_SERVER_OPTIONS,
  actionOf,
  expandRepeats,
  matchPattern,
  placeholderOf,
  readScenarios,
  substitute,
  variablesOf,
  type Scenario,
  type Step,
} from '../support/protocol-fixtures.js';

const README = readFileSync(new URL('README.md', FIXTURES_DIR), 'utf8');
const SPEC = readFileSync(new URL('../protocol.md', FIXTURES_DIR), 'utf8');
const scenarios = readScenarios();

/** GitHub's anchors of the specification's headings (as test/docs.test.ts computes them). */
const ANCHORS = new Set(
  SPEC.split('\n')
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) => line.replace(/^#+ /, '').trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')),
);

/** Fields that hold integers, for samples standing in for placeholders. */
const INTEGER_FIELDS = new Set(['v', 'seq', 'since', 'n', 're', 'mark', 'acked', 'time', 'joinedAt', 'expiresAt', 'expiresInMs', 'retryAfterMs', 'i', 'count', 'bytes', 'ref', 'limit', 'maxMessageBytes']);
const STRING_SAMPLES: Record<string, string> = { epoch: 'e1', code: 'ERR_SAMPLE', user: 'u1', client: 'c1', channel: 'sample', message: 'a message', data: '{' };

/** A value of the kind the field holds, to validate a pattern whose value the server chooses. */
function sample(field: string, frameType: unknown, placeholder: string): unknown {
  if (placeholder === '$bool') return true;
  if (placeholder === '$int' || placeholder === '$number') return field === 'maxMessageBytes' ? MIN_MESSAGE_BYTES : 1;
  if (placeholder !== '$string' && (INTEGER_FIELDS.has(field) || (field === 'id' && frameType === 'chunk'))) return field === 'maxMessageBytes' ? MIN_MESSAGE_BYTES : 1;
  return STRING_SAMPLES[field] ?? 'x';
}

/** The pattern with every placeholder replaced by a sample of its field's kind. */
function withSamples(pattern: unknown, field = '', frameType: unknown = undefined): unknown {
  if (placeholderOf(pattern) !== null) return sample(field, frameType, pattern as string);
  if (Array.isArray(pattern)) return pattern.map((item) => withSamples(item, field, frameType));
  if (typeof pattern === 'object' && pattern !== null) {
    const type = (pattern as { type?: unknown }).type ?? frameType;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(pattern)) Object.defineProperty(out, key, { value: withSamples(value, key, type), enumerable: true });
    return out;
  }
  return pattern;
}

interface ClientState {
  connected: boolean;
  /** The version of its session once a valid hello went out; null before. */
  version: 1 | 2 | null;
  maxMessageBytes: number | undefined;
  /** The server ended the connection (the restart fault): only `expectClose` or a new `connect` may follow. */
  ended: boolean;
}

/** Walks a scenario as a harness would, without a server; returns every problem found. */
function problemsOf(file: string, scenario: Scenario): string[] {
  const problems: string[] = [];
  const say = (index: number, problem: string) => problems.push(`${file} step ${index + 1}: ${problem}`);

  for (const key of Object.keys(scenario)) {
    if (!['name', 'title', 'spec', 'server', 'acl', 'distinct', 'steps'].includes(key)) problems.push(`${file}: unknown key ${key}`);
  }
  if (scenario.name !== file.replace(/\.json$/, '')) problems.push(`${file}: name ${JSON.stringify(scenario.name)} is not the file's name`);
  if (typeof scenario.title !== 'string' || scenario.title === '') problems.push(`${file}: no title`);
  const anchor = /^protocol\.md#(.+)$/.exec(scenario.spec ?? '')?.[1];
  if (anchor === undefined || !ANCHORS.has(anchor)) problems.push(`${file}: spec ${JSON.stringify(scenario.spec)} is not a heading of protocol.md`);
  for (const option of Object.keys(scenario.server ?? {})) {
    if (!(SCENARIO_SERVER_OPTIONS as readonly string[]).includes(option)) problems.push(`${file}: server option ${option} is not one a scenario may set`);
  }
  for (const token of scenario.acl?.tokens ?? []) {
    for (const key of Object.keys(token)) if (!['token', 'user', 'info', 'expiresInMs', 'scope'].includes(key)) problems.push(`${file}: acl token key ${key}`);
  }
  for (const rule of scenario.acl?.channels ?? []) {
    for (const key of Object.keys(rule)) if (!['pattern', 'subscribe', 'publish', 'presence'].includes(key)) problems.push(`${file}: acl channel key ${key}`);
  }

  const clients = new Map<string, ClientState>();
  const bound = new Set<string>();
  const closeCodes = new Set<number>([1006, 1002, 1007, 1009, ...Object.values(SyncCloseCodeV2)]);

  scenario.steps.forEach((step: Step, index) => {
    let action;
    try {
      action = actionOf(step);
    } catch (error) {
      return say(index, (error as Error).message);
    }
    const allowed = new Set<string>([action, 'note', ...('client' in step ? ['client'] : []), ...(action === 'send' ? ['invalid'] : []), ...(action === 'server' ? ['channel', 'set', 'delete'] : [])]);
    for (const key of Object.keys(step)) if (!allowed.has(key)) say(index, `unexpected key ${key}`);

    if (action === 'advanceMs') {
      const ms = (step as { advanceMs: unknown }).advanceMs;
      if (!Number.isSafeInteger(ms) || (ms as number) <= 0) say(index, `advanceMs must be a whole number > 0; received ${JSON.stringify(ms)}`);
      return;
    }
    if (action === 'server') {
      const server = step as { server: unknown; channel?: unknown; set?: unknown; delete?: unknown };
      if (server.server === 'restart') {
        for (const client of clients.values()) if (client.connected) client.ended = true;
        return;
      }
      if (server.server !== 'change') return say(index, `server must be "change" or "restart"; received ${JSON.stringify(server.server)}`);
      if (!isChannelName(server.channel)) say(index, `change: ${JSON.stringify(server.channel)} is not a channel name`);
      const checked = checkChanges({ ...(server.set === undefined ? {} : { set: server.set }), ...(server.delete === undefined ? {} : { delete: server.delete }) });
      if (!checked.ok) say(index, `change: ${checked.problem}`);
      return;
    }

    const name = (step as { client: unknown }).client;
    if (typeof name !== 'string' || name === '') return say(index, 'client must name a client');
    const client = clients.get(name) ?? { connected: false, version: null, maxMessageBytes: undefined, ended: false };
    clients.set(name, client);
    if (action === 'connect') {
      if (client.connected && !client.ended) say(index, `${name} connects while connected`);
      Object.assign(client, { connected: true, version: null, maxMessageBytes: undefined, ended: false });
      return;
    }
    if (!client.connected) return say(index, `${name} ${action} without a connection`);
    if (client.ended && action !== 'expectClose') return say(index, `${name} ${action} after the server ended its connection`);

    switch (action) {
      case 'send': {
        const send = step as { send: unknown; invalid?: unknown };
        for (const variable of variablesOf(send.send)) if (!bound.has(variable)) say(index, `$${variable} is sent before an expectation binds it`);
        let frame: unknown;
        try {
          frame = substitute(send.send, (_variable, field) => sample(field, (send.send as { type?: unknown }).type, '$any'));
        } catch (error) {
          return say(index, (error as Error).message);
        }
        let ok: boolean;
        let problem = '';
        if (client.version === null && (frame as { type?: unknown }).type === 'hello') {
          const hello = parseHello(frame);
          ok = hello.ok;
          if (hello.ok && hello.version !== 'unsupported') {
            client.version = hello.version;
            if (hello.version === 2) client.maxMessageBytes = hello.frame.maxMessageBytes;
          }
          if (!hello.ok) problem = hello.problem;
        } else {
          const parsed = client.version === 1 ? parseClientFrame(frame) : parseClientFrameV2(frame);
          ok = parsed.ok;
          if (!parsed.ok) problem = parsed.problem;
        }
        if (send.invalid === true && ok) say(index, `marked invalid, but the validators accept ${JSON.stringify(frame)}`);
        if (send.invalid !== true && !ok) say(index, `the validators refuse it: ${problem}`);
        if (send.invalid !== undefined && send.invalid !== true) say(index, 'invalid must be true when present');
        return;
      }
      case 'sendText': {
        const text = (step as { sendText: unknown }).sendText;
        if (typeof text !== 'string') return say(index, 'sendText must be a string');
        try {
          JSON.parse(text);
          say(index, 'sendText is for text that is not JSON; use send');
        } catch {
          // as it should be
        }
        return;
      }
      case 'expect':
      case 'expectChunked': {
        const pattern = (step as { expect?: unknown; expectChunked?: unknown })[action];
        const frame = withSamples(pattern);
        const parsed = client.version === 1 ? parseServerFrame(frame) : parseServerFrameV2(frame);
        if (!parsed.ok) say(index, `no server may send it: ${parsed.problem}`);
        if (action === 'expectChunked') {
          if (client.version !== 2) say(index, 'chunks come only on a version 2 connection');
          if (client.maxMessageBytes === undefined) say(index, "expectChunked needs the client's hello to give maxMessageBytes");
          const text = JSON.stringify(frame);
          const bytes = Buffer.byteLength(text);
          if (client.maxMessageBytes !== undefined && bytes <= client.maxMessageBytes) say(index, `the frame (${bytes} bytes) fits in the client's ${client.maxMessageBytes}: it would not be chunked`);
          const piece = { type: 'chunk', id: 1, channel: (frame as { channel?: unknown }).channel, i: 0, count: 2, bytes, data: text.slice(0, 100) };
          const chunk = parseServerFrameV2(piece);
          if (!chunk.ok) say(index, `its chunks would not be valid: ${chunk.problem}`);
        }
        for (const variable of variablesOf(pattern)) bound.add(variable);
        return;
      }
      case 'expectNothing':
        if ((step as { expectNothing: unknown }).expectNothing !== true) say(index, 'expectNothing must be true');
        return;
      case 'expectClose': {
        const close = (step as { expectClose: { code?: unknown; reason?: unknown } }).expectClose;
        if (typeof close?.code !== 'number' || !closeCodes.has(close.code)) say(index, `expectClose: ${JSON.stringify(close?.code)} is not a code the server closes with`);
        for (const key of Object.keys(close ?? {})) if (key !== 'code' && key !== 'reason') say(index, `expectClose: unexpected key ${key}`);
        client.connected = false;
        return;
      }
      case 'drop':
        if ((step as { drop: unknown }).drop !== true) say(index, 'drop must be true');
        client.connected = false;
        return;
      case 'close': {
        const code = (step as { close: unknown }).close;
        if (code !== 1000 && !(Number.isInteger(code) && (code as number) >= 3000 && (code as number) <= 4999)) say(index, `close: ${JSON.stringify(code)} is not a code a client may send`);
        client.connected = false;
        return;
      }
    }
  });

  for (const group of scenario.distinct ?? []) {
    for (const variable of group) if (!bound.has(variable)) problems.push(`${file}: distinct names $${variable}, which no expectation binds`);
  }
  return problems;
}

describe('conformance fixtures', () => {
  it('include the scenarios the specification calls for', () => {
    const names = scenarios.map(({ scenario }) => scenario.name);
    for (const name of [
      'subscribe-fresh',
      'resume-replay',
      'resume-synced',
      'op-applied',
      'op-duplicate',
      'op-refused-resent',
      'client-forgotten',
      'forbidden-channel',
      'chunked-snapshot',
      'changes-paging',
      'presence-grace',
      'token-refresh',
      'v1-client-default',
    ]) {
      expect(names).toContain(name);
    }
  });

  it.each(scenarios.map(({ file, scenario }) => [file, scenario] as const))('%s follows the format, and its frames agree with the validators', (file, scenario) => {
    expect(problemsOf(file, scenario)).toEqual([]);
  });

  it("README's links into the specification find their headings", () => {
    const links = [...README.matchAll(/\]\(\.\.\/protocol\.md#([^)\s]+)\)/g)].map((link) => link[1] ?? '');
    expect(links.length).toBeGreaterThan(10);
    expect(links.filter((fragment) => !ANCHORS.has(fragment))).toEqual([]);
  });

  it.each(scenarios.map(({ file }) => file))('%s is listed in the README', (file) => {
    expect(README).toContain(`[${file}](${file})`);
  });

  it('finds the problems it is there to find', () => {
    const broken: Scenario = {
      name: 'broken',
      title: 't',
      spec: 'protocol.md#nowhere',
      steps: [
        { client: 'a', send: { type: 'ping' } },
        { client: 'a', connect: {} },
        { client: 'a', send: { type: 'hello', v: 2, client: 'a b' } },
        { client: 'a', send: { type: 'hello', v: 2, client: 'a1' }, invalid: true },
        { client: 'a', send: { type: 'subscribe', channel: 'x', epoch: '$E', since: 1 } },
        { client: 'a', expect: { type: 'synced', channel: 'x', epoch: '$E' } },
        { client: 'a', expectClose: { code: 4999 } },
        { server: 'change', channel: 'x', set: {} },
      ],
    };
    expect(problemsOf('broken.json', broken)).toEqual([
      'broken.json: spec "protocol.md#nowhere" is not a heading of protocol.md',
      'broken.json step 1: a send without a connection',
      expect.stringMatching(/^broken\.json step 3: the validators refuse it: hello\.client: expected a client id/),
      'broken.json step 4: marked invalid, but the validators accept {"type":"hello","v":2,"client":"a1"}',
      'broken.json step 5: $E is sent before an expectation binds it',
      expect.stringMatching(/^broken\.json step 6: no server may send it: synced\.seq: expected/),
      'broken.json step 7: expectClose: 4999 is not a code the server closes with',
      'broken.json step 8: change: the change has no key in set or delete: it would change nothing',
    ]);
  });
});

describe('the pattern language', () => {
  it('matches type placeholders by kind', () => {
    const bindings = new Map<string, unknown>();
    expect(matchPattern({ a: '$int', b: '$string', c: '$bool', d: '$number', e: '$any' }, { a: 3, b: 'x', c: false, d: -1.5, e: null }, bindings)).toBeNull();
    expect(matchPattern({ a: '$int' }, { a: -1 }, bindings)).toBe('a: expected $int, received -1');
    expect(matchPattern({ a: '$int' }, { a: 1.5 }, bindings)).toBe('a: expected $int, received 1.5');
  });

  it('binds a variable at its first match and holds later ones to it', () => {
    const bindings = new Map<string, unknown>();
    expect(matchPattern({ type: 'snapshot', epoch: '$E', seq: 1 }, { type: 'snapshot', epoch: 'k3', seq: 1 }, bindings)).toBeNull();
    expect(bindings.get('E')).toBe('k3');
    expect(matchPattern({ epoch: '$E' }, { epoch: 'other' }, bindings)).toBe('epoch: expected $E ("k3"), received "other"');
    expect(matchPattern({ epoch: '$E' }, { epoch: 'k3' }, bindings)).toBeNull();
  });

  it('binds nothing when the match fails', () => {
    const bindings = new Map<string, unknown>();
    expect(matchPattern({ epoch: '$E', seq: 2 }, { epoch: 'k3', seq: 1 }, bindings)).toBe('seq: expected 2, received 1');
    expect(bindings.has('E')).toBe(false);
  });

  it('wants exactly the pattern\'s keys and lengths', () => {
    const bindings = new Map<string, unknown>();
    expect(matchPattern({ type: 'synced', seq: 1 }, { type: 'synced', seq: 1, mark: 2 }, bindings)).toBe('the frame: unexpected "mark"');
    expect(matchPattern({ type: 'synced', seq: 1, mark: 2 }, { type: 'synced', seq: 1 }, bindings)).toBe('mark: missing');
    expect(matchPattern({ members: [{ client: 'a' }] }, { members: [] }, bindings)).toBe('members: expected an array of 1, received []');
    expect(matchPattern({ members: [{ client: 'a' }] }, { members: [{ client: 'b' }] }, bindings)).toBe('members[0].client: expected "a", received "b"');
  });

  it('reads "$$" as a literal dollar', () => {
    expect(matchPattern({ price: '$$5' }, { price: '$5' }, new Map())).toBeNull();
    expect(substitute({ price: '$$5', epoch: '$E' }, () => 'k3')).toEqual({ price: '$5', epoch: 'k3' });
  });

  it('expands $repeat, and keeps a "__proto__" key a key', () => {
    expect(expandRepeats({ a: [{ $repeat: ['ab', 3] }] })).toEqual({ a: ['ababab'] });
    const expanded = expandRepeats(JSON.parse('{"set":{"__proto__":{"polluted":true}}}')) as { set: object };
    expect(Object.keys(expanded.set)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(expanded.set)).toBe(Object.prototype);
    expect(() => expandRepeats({ $repeat: ['a', -1] })).toThrow(/needs a string and a whole number/);
  });
});
