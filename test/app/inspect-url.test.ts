import { describe, expect, it } from 'vitest';
import { judgeRelayUrl, LOOPBACK_RELAY_HOSTS } from '../../app/inspect-url.js';

describe('?inspect= relay URLs', () => {
  it.each([
    ['a relay on 127.0.0.1', 'ws://127.0.0.1:8090/inspect', '127.0.0.1'],
    ['a relay on localhost, page on 127.0.0.1', 'ws://localhost:8090/inspect', '127.0.0.1'],
    ['a relay on localhost over wss', 'wss://localhost:8090/inspect', 'localhost'],
    ["a relay on the page's own host, another port", 'ws://app.example:8090/inspect', 'app.example'],
    ['a host spelled in capitals', 'ws://LOCALHOST:8090/', 'app.example'],
  ])('accepts %s', (_name, url, page) => {
    expect(judgeRelayUrl(url, page)).toEqual({ ok: true, url: new URL(url).href });
  });

  it.each([
    ['a foreign host', 'ws://evil.example/steal', '127.0.0.1'],
    ['a foreign address', 'ws://203.0.113.9:8090/', 'app.example'],
    ["a name that only starts like the page's", 'ws://app.example.evil.example/', 'app.example'],
    ['another loopback address the CSP cannot name', 'ws://127.0.0.2:8090/', 'localhost'],
    ['credentials before a loopback-looking host', 'ws://127.0.0.1@evil.example/', '127.0.0.1'],
    ['credentials on a loopback host', 'ws://user:pw@127.0.0.1:8090/', '127.0.0.1'],
    ['an IPv6 literal, which the CSP cannot name', 'ws://[::1]:8090/', '[::1]'],
  ])('refuses %s, naming where a relay may be', (_name, url, page) => {
    const verdict = judgeRelayUrl(url, page);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toContain(`may only name a relay on this machine (${LOOPBACK_RELAY_HOSTS.join(', ')}) or on the page's own host name`);
  });

  it.each([['http://127.0.0.1:8090/'], ['javascript:alert(1)'], ['not a url'], ['ws://']])('refuses %s as not a ws:// URL', (url) => {
    const verdict = judgeRelayUrl(url, '127.0.0.1');
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringContaining('needs a ws:// or wss:// URL') });
  });
});
