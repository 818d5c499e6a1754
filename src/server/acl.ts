/**
 * The reference server's ACL (docs/protocol.md, "Appendix: the reference server's ACL file";
 * `--acl FILE`, the `acl` option): tokens naming users (with info, an expiry and a scope), and
 * channel patterns with the users allowed per action. Validated hard before the server starts:
 * every problem names the field (`tokens[2].user`) and, for a file, the line. Pure, apart from
 * `readAclFile`.
 *
 * ```
 *   token ──▶ tokens[] (constant-time compare) ──▶ identity {user, info?, expiresAt?, scope?}
 *   (user, channel, action) ──▶ scope matches the channel? ──▶ first channels[] pattern matching it
 *                           ──▶ its action lists the user (or "*")?
 * ```
 */
import { readFileSync } from 'node:fs';
import { describeValue } from '../options.js';
import type { Json } from '../store.js';
import { MAX_USER_LENGTH } from '../sync/messages-v2.js';
import type { AuthorizeRequest, ChannelAction, Identity } from './session.js';
import { tokensEqual } from './token-equal.js';

export interface AclToken {
  token: string;
  user: string;
  info?: Record<string, Json>;
  /** Ms since 1970. */
  expiresAt?: number;
  /** Patterns of the channels this token may act on at all. */
  scope?: string[];
}

export interface AclChannelRule {
  /** A channel name pattern: `*` matches any run of characters (`/` included). */
  pattern: string;
  subscribe: string[];
  publish: string[];
  presence: string[];
}

export interface Acl {
  tokens: AclToken[];
  channels: AclChannelRule[];
}

/** The ACL is not valid: `field` names where (`tokens[1].user`), `line` the line in its file when known. */
export class AclError extends Error {
  override readonly name = 'AclError';
  readonly code = 'ERR_ACL';
  constructor(
    message: string,
    readonly field?: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** Patterns: the channel-name alphabet and `*`, 1 to 128 characters. */
const PATTERN = /^[A-Za-z0-9_.:/@*-]{1,128}$/;
const MAX_TOKENS = 100_000;
const MAX_RULES = 10_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The line of the first occurrence of `"key"` after `from` in `text` (for messages about a file). */
function lineOf(text: string | undefined, path: string): number | undefined {
  if (text === undefined) return undefined;
  // The path's keys and indexes, walked through the text roughly: good enough to point at the entry.
  let at = 0;
  for (const part of path.split(/[.[\]]+/).filter((p) => p !== '')) {
    if (/^\d+$/.test(part)) {
      // The n-th object of the array: count opening braces at this depth (approximately: enough for a pointer).
      let count = -1;
      let depth = 0;
      for (let i = at; i < text.length; i++) {
        const c = text[i];
        if (c === '{' || c === '[') {
          if (depth === 1 && c === '{') count++;
          if (count === Number(part) && depth === 1) {
            at = i;
            break;
          }
          depth++;
        } else if (c === '}' || c === ']') {
          depth--;
          if (depth === 0) break;
        }
      }
      continue;
    }
    const found = text.indexOf(`"${part}"`, at);
    if (found < 0) break;
    at = found;
  }
  return text.slice(0, at).split('\n').length;
}

function users(value: unknown, where: string, fail: (field: string, message: string) => never): string[] {
  if (!Array.isArray(value)) fail(where, `expected an array of users (or "*"), received ${describeValue(value)}`);
  const list = value as unknown[];
  list.forEach((user, i) => {
    if (typeof user !== 'string' || user.length < 1 || user.length > MAX_USER_LENGTH) {
      fail(`${where}[${i}]`, `expected a user (1 to ${MAX_USER_LENGTH} characters) or "*", received ${describeValue(user)}`);
    }
  });
  return list as string[];
}

function pattern(value: unknown, where: string, fail: (field: string, message: string) => never): string {
  if (typeof value !== 'string' || !PATTERN.test(value)) {
    fail(where, `expected a channel pattern (1 to 128 characters of A-Z a-z 0-9 _ . : / @ - and *), received ${describeValue(value)}`);
  }
  return value as string;
}

/**
 * Checks a parsed ACL; `text` (the file's JSON) lets problems name their line. Unknown keys are
 * refused too: a typo (`"subcribe"`) would otherwise silently allow nothing.
 * @throws AclError naming the field (and the line)
 */
export function parseAcl(value: unknown, text?: string, source = 'the ACL'): Acl {
  const fail = (field: string, message: string): never => {
    const line = lineOf(text, field);
    throw new AclError(`${source}${line === undefined ? '' : ` line ${line}`}: ${field}: ${message}`, field, line);
  };
  const only = (object: Record<string, unknown>, where: string, keys: readonly string[]) => {
    for (const key of Object.keys(object)) {
      if (!keys.includes(key)) fail(`${where}${where === '' ? '' : '.'}${key}`, `unknown field; expected only ${keys.join(', ')}`);
    }
  };
  if (!isRecord(value)) fail('(top level)', `expected an object {"tokens": [...], "channels": [...]}, received ${describeValue(value)}`);
  const root = value as Record<string, unknown>;
  only(root, '', ['tokens', 'channels']);
  if (!Array.isArray(root.tokens)) fail('tokens', `expected an array of {token, user, info?, expiresAt?, scope?}, received ${describeValue(root.tokens)}`);
  if (!Array.isArray(root.channels)) fail('channels', `expected an array of {pattern, subscribe, publish, presence}, received ${describeValue(root.channels)}`);
  const rawTokens = root.tokens as unknown[];
  const rawRules = root.channels as unknown[];
  if (rawTokens.length > MAX_TOKENS) fail('tokens', `at most ${MAX_TOKENS} tokens; received ${rawTokens.length}`);
  if (rawRules.length > MAX_RULES) fail('channels', `at most ${MAX_RULES} rules; received ${rawRules.length}`);
  const seen = new Set<string>();
  const tokens = rawTokens.map((entry, i): AclToken => {
    const where = `tokens[${i}]`;
    if (!isRecord(entry)) fail(where, `expected an object {token, user, info?, expiresAt?, scope?}, received ${describeValue(entry)}`);
    const t = entry as Record<string, unknown>;
    only(t, where, ['token', 'user', 'info', 'expiresAt', 'scope']);
    if (typeof t.token !== 'string' || t.token.length < 1 || t.token.length > 4096) fail(`${where}.token`, `expected a string of 1 to 4096 characters, received ${describeValue(t.token)}`);
    if (seen.has(t.token as string)) fail(`${where}.token`, 'the same token is listed twice; each token names one user');
    seen.add(t.token as string);
    if (typeof t.user !== 'string' || t.user.length < 1 || t.user.length > MAX_USER_LENGTH) {
      fail(`${where}.user`, `expected a user name of 1 to ${MAX_USER_LENGTH} characters, received ${describeValue(t.user)}`);
    }
    if (t.user === '*') fail(`${where}.user`, '"*" means every user in the channel rules; it cannot be a user');
    const token: AclToken = { token: t.token as string, user: t.user as string };
    if (t.info !== undefined) {
      if (!isRecord(t.info)) fail(`${where}.info`, `expected an object (what presence members show), received ${describeValue(t.info)}`);
      let json: string | undefined;
      try {
        json = JSON.stringify(t.info);
      } catch {
        json = undefined;
      }
      if (json === undefined || json.length > 2048) fail(`${where}.info`, 'expected JSON of at most 2048 characters (members travel in frames of at most 4096 bytes)');
      token.info = t.info as Record<string, Json>;
    }
    if (t.expiresAt !== undefined) {
      if (typeof t.expiresAt !== 'number' || !Number.isSafeInteger(t.expiresAt) || t.expiresAt < 0) {
        fail(`${where}.expiresAt`, `expected a time in ms since 1970 (a whole number), received ${describeValue(t.expiresAt)}`);
      }
      token.expiresAt = t.expiresAt as number;
    }
    if (t.scope !== undefined) {
      if (!Array.isArray(t.scope)) fail(`${where}.scope`, `expected an array of channel patterns, received ${describeValue(t.scope)}`);
      token.scope = (t.scope as unknown[]).map((p, j) => pattern(p, `${where}.scope[${j}]`, fail));
    }
    return token;
  });
  const channels = rawRules.map((entry, i): AclChannelRule => {
    const where = `channels[${i}]`;
    if (!isRecord(entry)) fail(where, `expected an object {pattern, subscribe, publish, presence}, received ${describeValue(entry)}`);
    const r = entry as Record<string, unknown>;
    only(r, where, ['pattern', 'subscribe', 'publish', 'presence']);
    return {
      pattern: pattern(r.pattern, `${where}.pattern`, fail),
      subscribe: users(r.subscribe, `${where}.subscribe`, fail),
      publish: users(r.publish, `${where}.publish`, fail),
      presence: users(r.presence, `${where}.presence`, fail),
    };
  });
  return { tokens, channels };
}

/**
 * Reads and checks an ACL file.
 * @throws AclError naming the file, the line and the field
 */
export function readAclFile(path: string): Acl {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new AclError(`cannot read the ACL file ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const at = /position (\d+)/.exec(message)?.[1];
    const line = text.slice(0, at === undefined ? syntaxErrorAt(text) : Number(at)).split('\n').length;
    throw new AclError(`the ACL file ${path} line ${line}: not JSON (${message.split('\n')[0]})`, undefined, line);
  }
  return parseAcl(value, text, `the ACL file ${path}`);
}

/**
 * Where JSON text first goes wrong (the offset of the offending character, or the end): for a
 * line number in the message, since JSON.parse does not say where on every Node version.
 * A scanner of tokens and brackets, iterative, so any input is safe.
 */
export function syntaxErrorAt(text: string): number {
  const stack: Array<'{' | '['> = [];
  // What may come next: a value, a key (or `}`), a colon, a comma or a closing bracket, or the end.
  type Next = 'value' | 'value or ]' | 'key or }' | 'key' | 'colon' | 'after';
  let expect = 'value' as Next;
  let i = 0;
  const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') {
      i++;
      continue;
    }
    if (expect === 'colon') {
      if (c !== ':') return i;
      expect = 'value';
      i++;
      continue;
    }
    if (expect === 'after') {
      const top = stack[stack.length - 1];
      if (top === undefined) return i; // text after the value
      if (c === ',') expect = top === '{' ? 'key' : 'value';
      else if ((c === '}' && top === '{') || (c === ']' && top === '[')) stack.pop();
      else return i;
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) return i;
      i = j + 1;
      expect = expect === 'key' || expect === 'key or }' ? 'colon' : 'after';
      continue;
    }
    if (expect === 'key') return i;
    if (expect === 'key or }') {
      if (c !== '}') return i;
      stack.pop();
      expect = 'after';
      i++;
      continue;
    }
    if (c === ']' && expect === 'value or ]') {
      stack.pop();
      expect = 'after';
      i++;
      continue;
    }
    if (c === '{' || c === '[') {
      stack.push(c);
      expect = c === '{' ? 'key or }' : 'value or ]';
      i++;
      continue;
    }
    const match = literal.exec(text.slice(i, i + 400));
    if (match === null) return i;
    i += match[0].length;
    expect = 'after';
  }
  return text.length;
}

/** `*` matches any run of characters. */
export function matchesPattern(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const parts = pattern.split('*');
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (!name.startsWith(first) || name.length < first.length + last.length || !name.endsWith(last)) return false;
  let at = first.length;
  const end = name.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i] as string;
    const found = name.indexOf(part, at);
    if (found < 0 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/** The `authenticate` and `authorize` hooks an ACL gives the server. */
export function aclHooks(acl: Acl): { authenticate: (token: string) => Identity | null; authorize: (request: AuthorizeRequest) => boolean } {
  return {
    authenticate(token) {
      // Every token is compared (in constant time each), so the time taken says nothing of which matched.
      let found: AclToken | undefined;
      for (const entry of acl.tokens) if (tokensEqual(token, entry.token) && found === undefined) found = entry;
      if (found === undefined) return null;
      const identity: Identity = { user: found.user };
      if (found.info !== undefined) identity.info = found.info;
      if (found.expiresAt !== undefined) identity.expiresAt = found.expiresAt;
      if (found.scope !== undefined) identity.scope = found.scope;
      return identity;
    },
    authorize({ user, channel, action, identity }) {
      if (identity.scope !== undefined && !identity.scope.some((p) => matchesPattern(p, channel))) return false;
      const rule = acl.channels.find((r) => matchesPattern(r.pattern, channel));
      if (rule === undefined) return false;
      const allowed = rule[action satisfies ChannelAction];
      return allowed.includes('*') || (user !== null && allowed.includes(user));
    },
  };
}
