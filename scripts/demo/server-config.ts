/**
 * The server `npm start` runs (and the browser tests run the same): the price feed on the `prices`
 * channel, a shared `notes` channel with presence, and `admin/*` refused to everyone, so the app and
 * the terminal show a forbidden channel failing alone.
 *
 * Users: a demo has no accounts, so the token is the member's name (`guest-1234`, `ann`), and
 * every name that fits `MEMBER_NAME` is let in. That is the `authenticate` hook's only job here;
 * a real server looks the token up (`--acl FILE`, or a hook of yours: docs/server.md).
 */
import { APP_CHANNELS, MEMBER_NAME } from '../../app/channels.js';
import type { NodeServerOptions } from '../../src/server/server-options.js';
import type { AuthorizeRequest, Identity } from '../../src/server/session.js';

export { APP_CHANNELS as DEMO_CHANNELS };

/** The notes a fresh demo starts with, so the notes panel is not empty. */
export const FIRST_NOTES = {
  welcome: 'edit me from any page: every page sees it',
} as const;

/** Who a demo token names: the name itself, for any name that fits `MEMBER_NAME`; else nobody (4401). */
export function demoAuthenticate(token: string): Identity | null {
  return MEMBER_NAME.test(token) ? { user: token, info: { name: token } } : null;
}

/** Everything is allowed but the `admin/` channels, which nobody may subscribe to (ERR_CHANNEL_FORBIDDEN). */
export function demoAuthorize(request: AuthorizeRequest): boolean {
  return !request.channel.startsWith('admin/');
}

/** The demo's server options; add `staticHandler`, `port` and the like to taste. */
export function demoServerOptions(feedRatePerSec: number): NodeServerOptions {
  return {
    control: true,
    host: '127.0.0.1',
    port: 0,
    feedRatePerSec,
    feedChannel: APP_CHANNELS.prices,
    heartbeatMs: 0,
    authenticate: demoAuthenticate,
    authorize: demoAuthorize,
  };
}
