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
} as const;

export interface CloseEventInfo {
  code: number;
  reason: string;
  wasClean: boolean;
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

/** A code a server may put in a close frame: 1000–1003, 1007–1014, 3000–4999 (RFC 6455 §7.4, IANA). */
export function isServerSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}

/** What the client does after a close, as `shouldReconnect` and `isServiceRestart` decide it. */
export type CloseOutcome = 'reconnect' | 'reconnect after serviceRestartDelayMs' | 'closed';

export interface ServerCloseRow {
  code: number;
  /** When the statesocket server sends it. */
  when: string;
  /** What the statesocket client does by default. */
  client: CloseOutcome;
}

/**
 * Every close the statesocket reference server (`statesocket/server`) can end a
 * connection with, and what the client does next. Load and timing closes are
 * retried with backoff; only authentication, authorization and a protocol the
 * server cannot speak are final. A test checks each row against
 * `shouldReconnect`, the server's own constants and the README.
 *
 * | code | when | client |
 * |------|------|--------|
 * | 1006 | (no close frame) `drop` and `restart` faults, a heartbeat timeout, a close not completed within 1 s, a connection held by the failed-authentication delay that sends more than 16 frames, the server process dying | reconnect |
 * | 1002 | (sent by `ws`) a frame that breaks RFC 6455: unmasked, a reserved opcode or bit, a close frame carrying 1005 | closed |
 * | 1007 | (sent by `ws`) a text frame that is not valid UTF-8 | closed |
 * | 1009 | a client frame over `--max-payload`: resending it would loop | closed |
 * | 1011 | the server could not complete an op for a reason that is not the op's (a failed data-file write): the op stays in the outbox | reconnect |
 * | 1013 | load or timing: a slow consumer, connection caps (total or per address), no `hello` before the deadline, too many failed authentications from one address, too many hellos on one connection, an op that would push a recent id out of the dedup record | reconnect after serviceRestartDelayMs |
 * | 4400 | the `hello` asked for a protocol version the server does not speak | closed |
 * | 4401 | missing or wrong token | closed |
 * | 4403 | a browser `Origin` the server does not allow | closed |
 */
export const SERVER_CLOSE_CODES: readonly ServerCloseRow[] = [
  {
    code: CloseCode.ABNORMAL,
    when: 'no close frame: the drop and restart faults, a heartbeat timeout, a close not completed within 1 s, a connection held by the failed-authentication delay that sends more than 16 frames, the server process dying',
    client: 'reconnect',
  },
  { code: CloseCode.PROTOCOL_ERROR, when: 'sent by ws: a frame that breaks RFC 6455 (unmasked, a reserved opcode or bit, a close frame carrying 1005)', client: 'closed' },
  { code: CloseCode.INVALID_PAYLOAD, when: 'sent by ws: a text frame that is not valid UTF-8', client: 'closed' },
  { code: CloseCode.MESSAGE_TOO_BIG, when: 'a client frame over --max-payload (resending it would loop)', client: 'closed' },
  {
    code: CloseCode.INTERNAL_ERROR,
    when: "the server could not complete an op for a reason that is not the op's (a failed data-file write); the op stays in the outbox",
    client: 'reconnect',
  },
  {
    code: CloseCode.TRY_AGAIN_LATER,
    when:
      'load or timing: a slow consumer, a connection cap (total or per address), no hello before the deadline, too many failed authentications from one address, too many hellos on one connection, an op that would push a recent id out of the dedup record',
    client: 'reconnect after serviceRestartDelayMs',
  },
  { code: 4400, when: 'the hello asked for a protocol version the server does not speak', client: 'closed' },
  { code: CloseCode.APP_UNAUTHORIZED, when: 'missing or wrong token', client: 'closed' },
  { code: CloseCode.APP_FORBIDDEN, when: 'a browser Origin the server does not allow', client: 'closed' },
];

/** The default client's outcome for a close with `code`. */
export function closeOutcome(code: number): CloseOutcome {
  if (!shouldReconnect({ code, reason: '', wasClean: true })) return 'closed';
  return isServiceRestart(code) ? 'reconnect after serviceRestartDelayMs' : 'reconnect';
}
