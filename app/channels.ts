/**
 * The channels the app holds on one connection, and who the page is. `npm start`'s server
 * (scripts/demo/server-config.ts) is configured for these names: the feed changes `prices`,
 * anyone may edit `notes` and see who else is there, and nobody may read `admin/*`.
 *
 * Pure: no DOM. `test/app/present.test.ts` covers it.
 */

/** The channel names the app subscribes to. */
export const APP_CHANNELS = {
  /** The server's price feed (`--feed-channel prices`); read only. */
  prices: 'prices',
  /** Key/value notes anyone can edit, with presence: who is here. */
  notes: 'notes',
  /** A channel the demo's users may not subscribe to: it shows `ERR_CHANNEL_FORBIDDEN` while the others stay live. */
  forbidden: 'admin/audit',
} as const;

/** A member name: what `?name=` may hold, and what the demo server accepts as a token. */
export const MEMBER_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * The page's member name: `?name=` when it is a valid name, else `guest-NNNN` from `random`
 * (no prompt: two tabs are two members at once).
 */
export function memberName(requested: string | null, random: () => number): string {
  if (requested !== null && MEMBER_NAME.test(requested)) return requested;
  return `guest-${String(Math.floor(random() * 10_000)).padStart(4, '0')}`;
}
