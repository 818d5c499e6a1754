import { describe, expect, it } from 'vitest';
import {
  addressGroup,
  bearerToken,
  clientAddress,
  generateToken,
  isJsonContentType,
  isOwnOrigin,
  judgeOrigin,
  normalizeOrigin,
  parseHost,
  serverNames,
} from '../../src/server/access.js';
import { tokensEqual } from '../../src/server/token-equal.js';

describe('tokensEqual', () => {
  it.each([
    ['s3cret', 's3cret', true],
    ['s3cret', 's3cre', false],
    ['s3cre', 's3cret', false],
    ['s3cret', 's3creT', false],
    ['', 's3cret', false],
    ['s3crets3cret', 's3cret', false], // a repetition of the secret: the cyclic read must not accept it
    ['', '', true],
    ['x', '', false],
    ['é', 'é', true],
    ['é', 'e', false],
  ])('tokensEqual(%j, %j) is %s', (presented, expected, equal) => {
    expect(tokensEqual(presented, expected)).toBe(equal);
  });
});

describe('Host header', () => {
  it.each([
    ['localhost:8080', { name: 'localhost', port: '8080' }],
    ['LOCALHOST', { name: 'localhost', port: '' }],
    ['127.0.0.1:1', { name: '127.0.0.1', port: '1' }],
    ['[::1]:8080', { name: '::1', port: '8080' }],
    ['attacker.example:8080', { name: 'attacker.example', port: '8080' }],
    ['a b', null],
    ['[nonsense]:1', null],
    ['user@host', null],
    ['', null],
    [undefined, null],
  ])('parseHost(%j)', (host, parsed) => {
    expect(parseHost(host)).toEqual(parsed);
  });
});

describe('own origin', () => {
  const loopback = serverNames('127.0.0.1');

  it.each([
    ['http://127.0.0.1:8080', '127.0.0.1:8080', true],
    ['http://localhost:8080', 'localhost:8080', true],
    ['http://127.0.0.2:8080', '127.0.0.2:8080', true],
    ['http://[::1]:8080', '[::1]:8080', true],
    ['HTTP://LOCALHOST:8080', 'localhost:8080', true],
    ['https://localhost:8443', 'localhost:8443', true],
    // DNS rebinding: Origin and Host agree, but the name is not one this server answers to
    ['http://attacker.example:8080', 'attacker.example:8080', false],
    ['http://localhost:5173', 'localhost:8080', false],
    ['http://127.0.0.1:8080', 'localhost:8080', false],
    ['null', 'localhost:8080', false],
    ['http://localhost:8080/path', 'localhost:8080', false],
    ['http://user@localhost:8080', 'localhost:8080', false],
    ['http://localhost:8080', undefined, false],
  ])('isOwnOrigin(%j, Host %j) on loopback is %s', (origin, host, own) => {
    expect(isOwnOrigin(origin, host, loopback)).toBe(own);
  });

  it('answers to the listen address itself off loopback, not to loopback names', () => {
    const names = serverNames('host.lan');
    expect(isOwnOrigin('http://host.lan:8080', 'host.lan:8080', names)).toBe(true);
    expect(isOwnOrigin('http://localhost:8080', 'localhost:8080', names)).toBe(false);
    expect(isOwnOrigin('http://other.lan:8080', 'other.lan:8080', names)).toBe(false);
  });

  it('answers to loopback names and the extra names when listening on every interface', () => {
    const names = serverNames('0.0.0.0', ['app.example']);
    expect(isOwnOrigin('http://localhost:8080', 'localhost:8080', names)).toBe(true);
    expect(isOwnOrigin('https://app.example', 'app.example', names)).toBe(true);
    expect(isOwnOrigin('http://192.168.1.5:8080', '192.168.1.5:8080', names)).toBe(true); // an IP literal cannot be rebound
    expect(isOwnOrigin('http://lan.example:8080', 'lan.example:8080', names)).toBe(false);
  });

  it('judges an Origin: none, own, allowed or refused', () => {
    const allowed = new Set([normalizeOrigin('http://App.example:5173/', 'allowedOrigins')]);
    expect(judgeOrigin(undefined, 'localhost:1', loopback, allowed)).toBe('none');
    expect(judgeOrigin('http://localhost:1', 'localhost:1', loopback, allowed)).toBe('own');
    expect(judgeOrigin('http://app.example:5173', 'localhost:1', loopback, allowed)).toBe('allowed');
    expect(judgeOrigin('http://app.example:5174', 'localhost:1', loopback, allowed)).toBe('refused');
    expect(judgeOrigin('null', 'localhost:1', loopback, allowed)).toBe('refused');
  });

  it('refuses an allowedOrigins entry that is not an origin', () => {
    expect(() => normalizeOrigin('app.example', 'allowedOrigins')).toThrow(RangeError);
    expect(() => normalizeOrigin('http://app.example/path', 'allowedOrigins')).toThrow(/allowedOrigins.*"http:\/\/app.example\/path"/);
  });
});

describe('client address behind a trusted proxy', () => {
  const proxy = new Set(['10.0.0.1', '10.0.0.2']);

  it.each([
    ['a peer that is not a trusted proxy: the header is ignored', '203.0.113.9', '198.51.100.1', '203.0.113.9'],
    ['the trusted proxy with one client', '10.0.0.1', '198.51.100.1', '198.51.100.1'],
    ['IPv4-mapped proxy address', '::ffff:10.0.0.1', '198.51.100.1', '198.51.100.1'],
    ['a chain of trusted proxies: the right-most untrusted entry', '10.0.0.1', '198.51.100.1, 10.0.0.2', '198.51.100.1'],
    ['a spoofed left part: ignored', '10.0.0.1', '1.2.3.4, 198.51.100.1', '198.51.100.1'],
    ['only trusted entries: the peer', '10.0.0.1', '10.0.0.2', '10.0.0.1'],
    ['a malformed entry: the peer', '10.0.0.1', 'not-an-ip', '10.0.0.1'],
    ['no header: the peer', '10.0.0.1', undefined, '10.0.0.1'],
  ])('%s', (_name, remote, header, expected) => {
    expect(clientAddress(remote, header, proxy)).toBe(expected);
  });

  it('reads a repeated header as one list', () => {
    expect(clientAddress('10.0.0.1', ['1.2.3.4', '198.51.100.7'], proxy)).toBe('198.51.100.7');
  });
});

describe('address groups for the per-address limits', () => {
  it.each([
    ['an IPv4 address is itself', '198.51.100.7', '198.51.100.7'],
    ['IPv4-mapped IPv6, dotted, is the IPv4 address', '::ffff:198.51.100.7', '198.51.100.7'],
    ['IPv4-mapped IPv6, in hex, is the IPv4 address', '::FFFF:c633:6407', '198.51.100.7'],
    ['an IPv6 address is its /64', '2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['compressed forms of the same /64 agree', '2001:0db8:0001:0002::ff', '2001:db8:1:2::/64'],
    ['a zone id is dropped', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['another /64 is another group', '2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['IPv6 loopback stays itself', '::1', '::1'],
    ['something that is not an address is itself', 'unknown', 'unknown'],
  ])('%s', (_name, address, expected) => {
    expect(addressGroup(address)).toBe(expected);
  });
});

describe('request headers', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc-._~+/=', 'abc-._~+/='],
    ['Basic abc', null],
    ['Bearer', null],
    ['Bearer a b', null],
    [undefined, null],
  ])('bearerToken(%j) is %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it.each([
    ['application/json', true],
    ['application/json; charset=utf-8', true],
    ['Application/JSON', true],
    ['text/plain', false],
    ['application/jsonp', false],
    ['application/x-www-form-urlencoded', false],
    [undefined, false],
  ])('isJsonContentType(%j) is %s', (type, json) => {
    expect(isJsonContentType(type)).toBe(json);
  });
});

describe('generated control tokens', () => {
  it('are 48 hex digits, so one can never be read as a flag after --control-token', () => {
    for (let i = 0; i < 200; i++) expect(generateToken()).toMatch(/^[0-9a-f]{48}$/);
  });
});
