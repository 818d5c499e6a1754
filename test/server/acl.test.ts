/**
 * The reference server's ACL (src/server/acl.ts): patterns, the first matching rule, token
 * scopes, and hard validation of garbage (each problem names the field and the line), through
 * `startSyncServer({ acl })` and the `--acl FILE` flag.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AclError, aclHooks, matchesPattern, parseAcl, readAclFile } from '../../src/server/acl.js';
import { startSyncServer } from '../../src/server/start.js';
import { onCleanup } from '../support/cleanup.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function tempFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-acl-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'acl.json');
  writeFileSync(file, text);
  return file;
}

const ACL = {
  tokens: [
    { token: 't-ann', user: 'ann', info: { name: 'Ann' } },
    { token: 't-bob', user: 'bob', expiresAt: 1767225600000, scope: ['public/*'] },
  ],
  channels: [
    { pattern: 'public/*', subscribe: ['*'], publish: ['ann'], presence: ['*'] },
    { pattern: 'notes:*', subscribe: ['ann', 'bob'], publish: ['ann', 'bob'], presence: ['ann', 'bob'] },
    { pattern: 'default', subscribe: ['*'], publish: ['*'], presence: [] },
  ],
};

describe('patterns', () => {
  it.each([
    ['public/*', 'public/prices', true],
    ['public/*', 'public/a/b', true],
    ['public/*', 'public/', true],
    ['public/*', 'publicx', false],
    ['*', 'anything', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXcYb', false],
    ['a*a', 'a', false],
    ['notes:*@team', 'notes:ann@team', true],
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(matchesPattern(pattern, name)).toBe(expected);
  });
});

describe('authorization', () => {
  const { authenticate, authorize } = aclHooks(parseAcl(ACL));
  const ann = authenticate('t-ann')!;
  const bob = authenticate('t-bob')!;

  it('names the user, info and expiry of a listed token, and nobody for another', () => {
    expect(ann).toEqual({ user: 'ann', info: { name: 'Ann' } });
    expect(bob).toMatchObject({ user: 'bob', expiresAt: 1767225600000 });
    expect(authenticate('t-eve')).toBeNull();
    expect(authenticate('')).toBeNull();
  });

  it.each([
    ['ann', 'public/prices', 'publish', true],
    ['bob', 'public/prices', 'publish', false],
    ['bob', 'public/prices', 'subscribe', true],
    ['bob', 'notes:x', 'subscribe', false], // outside the token's scope, though the rule lists bob
    ['ann', 'notes:x', 'subscribe', true],
    ['ann', 'default', 'presence', false],
    ['ann', 'unlisted', 'subscribe', false], // no pattern matches: nothing allowed
  ] as const)('%s on %s may %s: %s', (user, channel, action, expected) => {
    const identity = user === 'ann' ? ann : bob;
    expect(authorize({ user, channel, action, identity })).toBe(expected);
  });
});

describe('validation', () => {
  it.each([
    ['not an object', [], '(top level)'],
    ['no tokens', { channels: [] }, 'tokens'],
    ['a token without a user', { tokens: [{ token: 't' }], channels: [] }, 'tokens[0].user'],
    ['a user of 129 characters', { tokens: [{ token: 't', user: 'u'.repeat(129) }], channels: [] }, 'tokens[0].user'],
    ['the user "*"', { tokens: [{ token: 't', user: '*' }], channels: [] }, 'tokens[0].user'],
    ['a token twice', { tokens: [{ token: 't', user: 'a' }, { token: 't', user: 'b' }], channels: [] }, 'tokens[1].token'],
    ['an expiry that is a string', { tokens: [{ token: 't', user: 'a', expiresAt: 'tomorrow' }], channels: [] }, 'tokens[0].expiresAt'],
    ['info that is an array', { tokens: [{ token: 't', user: 'a', info: [] }], channels: [] }, 'tokens[0].info'],
    ['a scope pattern with a space', { tokens: [{ token: 't', user: 'a', scope: ['a b'] }], channels: [] }, 'tokens[0].scope[0]'],
    ['a typo in a field', { tokens: [], channels: [{ pattern: 'x', subcribe: [], publish: [], presence: [] }] }, 'channels[0].subcribe'],
    ['users that are not a list', { tokens: [], channels: [{ pattern: 'x', subscribe: '*', publish: [], presence: [] }] }, 'channels[0].subscribe'],
    ['a pattern of 200 characters', { tokens: [], channels: [{ pattern: 'p'.repeat(200), subscribe: [], publish: [], presence: [] }] }, 'channels[0].pattern'],
    ['a __proto__ field', JSON.parse('{"tokens":[],"channels":[],"__proto__":{}}'), '__proto__'],
  ])('refuses %s, naming %s', (_what, value, field) => {
    let error: unknown;
    try {
      parseAcl(value);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AclError);
    expect(error).toMatchObject({ code: 'ERR_ACL', field });
    expect((error as Error).message).toContain(field);
  });

  it('names the line of the problem in a file, and of JSON that does not parse', () => {
    const file = tempFile('{\n  "tokens": [\n    {"token": "a", "user": "ann"},\n    {"token": "b", "user": 7}\n  ],\n  "channels": []\n}\n');
    expect(() => readAclFile(file)).toThrow(/line 4: tokens\[1\]\.user: expected a user name/);
    const broken = tempFile('{\n  "tokens": [,\n');
    expect(() => readAclFile(broken)).toThrow(/line 2: not JSON/);
    expect(() => readAclFile(join(tmpdir(), 'no-such-dir-statesocket', 'acl.json'))).toThrow(/cannot read the ACL file/);
  });

  it('makes startSyncServer throw AclError for garbage, and TypeError beside token', async () => {
    await expect(startSyncServer({ port: 0, acl: { tokens: 'all' } as never })).rejects.toThrow(AclError);
    await expect(startSyncServer({ port: 0, acl: ACL, token: 'x' })).rejects.toThrow(TypeError);
  });

  it('makes the program exit 2 with the file, line and field for a garbage --acl file', async () => {
    const file = tempFile('{"tokens": [{"token": "t", "user": "ann", "expiresAt": -5}], "channels": []}');
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/server.ts', '--no-app', '--port', '0', '--acl', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the server did not exit: ${err}`));
      }, 15_000);
      child.once('exit', (exit) => {
        clearTimeout(timer);
        resolve({ code: exit, stderr: err });
      });
    });
    expect(code).toBe(2);
    expect(stderr).toContain(`server: the ACL file ${file} line 1: tokens[0].expiresAt`);
  });
});
