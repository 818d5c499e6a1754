/**
 * Which `?inspect=` relay URLs the app streams its machine to (hostile review a19).
 *
 * The inspector sees every event and snapshot, the synced document included.
 * A link such as `http://127.0.0.1:8080/?inspect=ws://evil.example/` must not
 * make the app send them elsewhere: the page's query string is the attacker's
 * to write, and it gets around the server's Origin check for reading. So the
 * relay must be on this machine (a loopback name) or on the host that served
 * the page. The server's Content-Security-Policy (`connect-src`, see
 * `src/server/static-files.ts`) allows the same hosts, as a second line.
 *
 * Pure: no DOM. `test/app/inspect-url.test.ts` covers it.
 */

/**
 * Loopback relay hosts, as `URL.hostname` spells them: the ones a Content-Security-Policy can
 * name (not all of 127.0.0.0/8, and Chromium ignores IPv6 literals such as `[::1]` in it).
 */
export const LOOPBACK_RELAY_HOSTS: readonly string[] = ['localhost', '127.0.0.1'];

/** The relay URL to use, or why not (a sentence for the page). */
export type RelayVerdict = { ok: true; url: string } | { ok: false; reason: string };

/**
 * Judges `?inspect=`'s value for a page served from `pageHostname` (`location.hostname`):
 * a ws:// or wss:// URL whose host is a loopback name or the page's own host (not an IPv6
 * literal: the page's CSP cannot name one; use `localhost`).
 */
export function judgeRelayUrl(url: string, pageHostname: string): RelayVerdict {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // not a URL: refused below
  }
  if (parsed === null || (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')) {
    return { ok: false, reason: `?inspect= needs a ws:// or wss:// URL (e.g. ws://127.0.0.1:8090/inspect); received ${JSON.stringify(url)}. Inspection is off.` };
  }
  const host = parsed.hostname.toLowerCase();
  const ownHost = !host.startsWith('[') && host === pageHostname.toLowerCase();
  if (parsed.username !== '' || parsed.password !== '' || !(LOOPBACK_RELAY_HOSTS.includes(host) || ownHost)) {
    return {
      ok: false,
      reason:
        `?inspect= streams everything this page syncs, so it may only name a relay on this machine ` +
        `(${LOOPBACK_RELAY_HOSTS.join(', ')}) or on the page's own host name; received ${JSON.stringify(url)}. Inspection is off.`,
    };
  }
  return { ok: true, url: parsed.href };
}
