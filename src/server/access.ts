/**
 * Who gets in: pure checks on the Host and Origin headers, the client address
 * behind a trusted proxy, and the control token. `node-server.ts` applies them;
 * nothing here does I/O.
 *
 * ```
 *   request ──▶ remote address (X-Forwarded-For from a trusted proxy only)
 *           ──▶ Host: a name this server answers to?      (DNS rebinding)
 *           ──▶ Origin: absent, own origin, or allowed?   (cross-site requests, CSWSH)
 *           ──▶ control routes: Authorization: Bearer <control token>, JSON bodies only
 * ```
 *
 * Imports `node:*`: never reachable from the browser entry.
 */
import { randomBytes } from 'node:crypto';
import { isIP, isIPv4 } from 'node:net';

/** True for loopback addresses: 127.0.0.0/8, ::1, and IPv4-mapped 127.x (`::ffff:127.0.0.1`). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const lower = address.toLowerCase();
  if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const v4 = lower.startsWith('::ffff:') ? lower.slice('::ffff:'.length) : lower;
  return isIPv4(v4) && v4.startsWith('127.');
}

/** True for a listen address that means "every interface". */
export function isWildcardAddress(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '0:0:0:0:0:0:0:0';
}

/**
 * A new control token: 24 random bytes as 48 hex digits. Not base64url: a token that starts with
 * `-` reads as a flag when pasted after `--control-token` (the scripted client refused one in CI).
 */
export function generateToken(): string {
  return randomBytes(24).toString('hex');
}

const HOST_HEADER = /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]{2,45}\])(?::(\d{1,5}))?$/;

/**
 * Splits a Host header (or an origin's host) into a lower-case name, without
 * IPv6 brackets, and a port. Null when it is not a plain `name[:port]`.
 */
export function parseHost(host: string | undefined): { name: string; port: string } | null {
  if (host === undefined) return null;
  const lower = host.toLowerCase();
  const match = HOST_HEADER.exec(lower);
  if (match === null) return null;
  const port = match[1] ?? '';
  const bare = port === '' ? lower : lower.slice(0, -(port.length + 1));
  const name = bare.startsWith('[') ? bare.slice(1, -1) : bare;
  if (bare.startsWith('[') && isIP(name) !== 6) return null;
  return { name, port };
}

/** True for `localhost`, 127.x.x.x and ::1: the names that always mean this machine. */
export function isLoopbackName(name: string): boolean {
  return name === 'localhost' || isLoopbackAddress(name);
}

/**
 * The host names this server answers to, for the own-origin check: the
 * loopback names when it listens on loopback or on every interface, and the
 * listen address itself otherwise. A rebound DNS name (`attacker.example`
 * resolving to 127.0.0.1) is never among them.
 */
export function serverNames(listenHost: string, extra: readonly string[] = []): Set<string> {
  const names = new Set<string>(extra.map((name) => name.toLowerCase()));
  const host = listenHost.toLowerCase();
  if (isWildcardAddress(host) || isLoopbackName(host)) names.add('localhost');
  if (!isWildcardAddress(host)) names.add(host.startsWith('[') ? host.slice(1, -1) : host);
  return names;
}

/**
 * True when `name` is in `names`, counting every 127.x address and ::1 as loopback.
 * An IP literal always passes: a page loaded from an address cannot be rebound,
 * only a DNS name can.
 */
function answersTo(names: ReadonlySet<string>, name: string): boolean {
  if (names.has(name) || isIP(name) !== 0) return true;
  return names.has('localhost') && isLoopbackName(name);
}

/**
 * True when `origin` is this server's own origin: an http(s) origin whose
 * `host[:port]` equals the Host header, for a name the server answers to (or an IP literal).
 * Both conditions matter: a DNS-rebinding page at `http://attacker.example:8080`
 * sends `Origin` and `Host` that agree, but `attacker.example` is not ours.
 */
export function isOwnOrigin(origin: string, hostHeader: string | undefined, names: ReadonlySet<string>): boolean {
  const parsed = parseOrigin(origin);
  if (parsed === null || hostHeader === undefined) return false;
  const host = parseHost(hostHeader);
  if (host === null) return false;
  const originHost = parseHost(parsed.host);
  if (originHost === null) return false;
  return originHost.name === host.name && originHost.port === host.port && answersTo(names, host.name);
}

/** `scheme://host[:port]` of an Origin header, lower-cased; null for `null` and anything that is not an http(s) origin. */
export function parseOrigin(origin: string): { scheme: string; host: string; origin: string } | null {
  const match = /^(https?):\/\/([^/?#@]+)$/i.exec(origin);
  if (match === null) return null;
  const scheme = (match[1] as string).toLowerCase();
  const host = (match[2] as string).toLowerCase();
  if (parseHost(host) === null) return null;
  return { scheme, host, origin: `${scheme}://${host}` };
}

/**
 * Normalizes an `allowedOrigins` entry (`http://app.example:5173`); throws
 * RangeError naming the value when it is not an http(s) origin.
 */
export function normalizeOrigin(origin: string, option: string): string {
  const parsed = parseOrigin(origin.replace(/\/$/, ''));
  if (parsed === null) {
    throw new RangeError(`${option} entries must be origins like "http://app.example:5173"; received ${JSON.stringify(origin)}`);
  }
  return parsed.origin;
}

export type OriginVerdict = 'none' | 'own' | 'allowed' | 'refused';

/**
 * Whether a browser page may talk to this server: no Origin header (not a
 * browser), its own origin, or one of `allowed` (normalized origins).
 */
export function judgeOrigin(
  origin: string | undefined,
  hostHeader: string | undefined,
  names: ReadonlySet<string>,
  allowed: ReadonlySet<string>,
): OriginVerdict {
  if (origin === undefined) return 'none';
  if (isOwnOrigin(origin, hostHeader, names)) return 'own';
  const parsed = parseOrigin(origin);
  if (parsed !== null && allowed.has(parsed.origin)) return 'allowed';
  return 'refused';
}

/** Normalizes an IP address for comparison: lower case, IPv4-mapped IPv6 as plain IPv4. */
export function normalizeAddress(address: string): string {
  const lower = address.trim().toLowerCase();
  const v4 = lower.startsWith('::ffff:') ? lower.slice('::ffff:'.length) : lower;
  return isIPv4(v4) ? v4 : lower;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped, a dotted IPv4 tail converted); null when not IPv6. */
function ipv6Groups(address: string): number[] | null {
  const bare = address.split('%')[0] as string;
  if (isIP(bare) !== 6) return null;
  let text = bare;
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = (dotted[2] as string).split('.').map(Number) as [number, number, number, number];
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part === undefined || part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = parse(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/**
 * The key the per-address limits count under: an IPv4 address itself, an IPv6
 * address's /64 (`2001:db8:1:2::/64`), and an IPv4-mapped IPv6 address as its
 * IPv4 address. One host on the internet is usually given a whole IPv6 /64, so
 * keying on the exact IPv6 address would give it 2^64 fresh budgets (hostile
 * review a20). Anything else (`unknown`) is its own key.
 */
export function addressGroup(address: string): string {
  const normalized = normalizeAddress(address);
  const groups = ipv6Groups(normalized);
  if (groups === null) return normalized;
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [, , , , , , hi, lo] = groups as [number, number, number, number, number, number, number, number];
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  // Loopback ::1 stays itself (its /64 is ::/64, shared with nothing real).
  if (normalized === '::1' || groups.every((group, i) => group === (i === 7 ? 1 : 0))) return '::1';
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/**
 * The client's address. A connection from a trusted proxy carries the client in
 * `X-Forwarded-For`: each proxy appends the address it received from, so the
 * right-most entry that is not itself a trusted proxy is the first address no
 * trusted party vouches for beyond. Entries to its left are whatever the client
 * wrote and are ignored. From any other peer the header is ignored entirely.
 */
export function clientAddress(
  remoteAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: ReadonlySet<string>,
): string {
  const remote = normalizeAddress(remoteAddress ?? 'unknown');
  if (!trusted.has(remote) || forwardedFor === undefined) return remote;
  const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((entry) => normalizeAddress(entry))
    .filter((entry) => entry !== '');
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i] as string;
    if (isIP(entry) === 0) return remote; // a malformed entry: trust nothing further left
    if (!trusted.has(entry)) return entry;
  }
  return remote;
}

/**
 * The token of an `Authorization: Bearer <token>` header, or null.
 * (RFC 6750 §2.1: the scheme is case-insensitive.)
 */
export function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined) return null;
  const match = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  return match === null ? null : (match[1] as string);
}

/** True when a Content-Type header names JSON (`application/json`, parameters allowed). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  return /^application\/json\s*(;|$)/i.test(contentType.trim());
}
