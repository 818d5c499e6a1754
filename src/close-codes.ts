/**
 * WebSocket close codes (RFC 6455 §7.4, IANA registry) and the one policy that
 * decides whether a close from the other side is worth a reconnect.
 */

export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  TLS_HANDSHAKE: 1015,
  UNAUTHORIZED: 3000,
  FORBIDDEN: 3003,
  /** Application code used by the statesocket server for a missing or wrong token. */
  APP_UNAUTHORIZED: 4401,
  /** Application code used by the statesocket server for a refused Origin. */
  APP_FORBIDDEN: 4403,
  /** The statesocket server (protocol version 2): a newer connection took over this client id. */
  APP_CLIENT_REPLACED: 4409,
  /** The statesocket server (protocol version 2): the token expired and no fresh one came. */
  APP_TOKEN_EXPIRED: 4419,
  /** The statesocket server (protocol version 2, per-user tokens): the hello's client id belongs to another user. */
  APP_CLIENT_ID_TAKEN: 4423,
} as const;

export interface CloseEventInfo {
  code: number;
  reason: string;
  wasClean: boolean;
  /**
   * True when the connection gets a fresh token at every connect (the sync protocol, version 2,
   * with a token function): set by the connection for the close policy.
   */
  canRefreshToken?: boolean;
}

/**
 * Codes that a reconnect cannot fix: the same request would be refused again.
 *
 * | code | why not retry |
 * |------|---------------|
 * | 1002 | protocol error: our frames are wrong, resending them fails the same way |
 * | 1003 | unsupported data: same |
 * | 1007 | invalid payload (bad UTF-8 / bad data): same |
 * | 1008 | policy violation (other servers send it to abusers; the statesocket server sends 1013 for load instead) |
 * | 1009 | message too big: the server refused our frame; resending it loops |
 * | 1010 | the server lacks an extension we insisted on |
 * | 3000 | unauthorized (IANA-registered) |
 * | 3003 | forbidden (IANA-registered) |
 * | 4000–4999 | private application codes (4401, 4403, ...): the application decided |
 * | 4409 | the statesocket server: a newer connection took over this client id (two tabs sharing one id stop, visibly) |
 * | 4419 | the statesocket server: the token expired; final unless `canRefreshToken` (a token function gives a fresh one at the next connect) |
 * | 4423 | the statesocket server: the hello's client id belongs to another user; the same id would be refused again, and a fresh id is the application's choice (a new connection object), not the library's: ops numbered under the old id would change owner |
 */
const FATAL = new Set([1002, 1003, 1007, 1008, 1009, 1010, 3000, 3003]);

/**
 * Codes that do reconnect:
 *
 * | code | why retry |
 * |------|-----------|
 * | 1000, 1001 | from the server, these mean a deploy or a proxy recycling connections, not "go away forever" |
 * | 1005 | close frame without a code: nothing says the server wants us gone |
 * | 1006 | abnormal closure (no close frame): the network or the process died |
 * | 1011 | internal error on the server (statesocket's: a failed data-file write): transient by nature |
 * | 1012, 1013 | service restart / try again later (statesocket's 1013: slow consumer, connection caps, hello deadline): retried, after at least `serviceRestartDelayMs` |
 * | 1014 | bad gateway: an upstream was unreachable |
 * | 1015 | TLS handshake failure (reported locally): may be a transient middlebox issue |
 * | anything else | unknown or future codes are treated as transient |
 *
 * Deliberately left out of both tables: 1004 is reserved and never sent;
 * 1005, 1006 and 1015 must never be sent in a close frame, so they only appear as
 * local reports and are classified above as such; 3001–3002 and 3004–3999 are
 * registered by libraries and frameworks for their own meanings, so they fall under
 * "unknown: retry" rather than guessing what each library meant.
 */
export function shouldReconnect(close: CloseEventInfo): boolean {
  if (FATAL.has(close.code)) return false;
  // 4419 is no one's mistake: a token function gives a fresh token at the next connect (docs/protocol.md, "Close codes")
  if (close.code === CloseCode.APP_TOKEN_EXPIRED) return close.canRefreshToken === true;
  if (close.code >= 4000 && close.code <= 4999) return false;
  return true;
}

/** Codes after which the next attempt waits at least `serviceRestartDelayMs`. */
export function isServiceRestart(code: number | undefined): boolean {
  return code === CloseCode.SERVICE_RESTART || code === CloseCode.TRY_AGAIN_LATER;
}

/** A code that `close()` may send from a client: 1000 or 3000–4999 (WebSocket API). */
export function isSendableCloseCode(code: number): boolean {
  return code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999);
}
