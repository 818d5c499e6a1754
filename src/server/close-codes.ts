/**
 * The closes the statesocket server ends connections with, as a table the
 * README and a test check, and which codes a server may send at all.
 */
import { CloseCode, isServiceRestart, shouldReconnect } from '../close-codes.js';

/** A code a server may put in a close frame: 1000–1003, 1007–1014, 3000–4999 (RFC 6455 §7.4, IANA). */
export function isServerSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}

/**
 * What the client does after a close, as `shouldReconnect` and `isServiceRestart` decide it; the
 * last depends on the connection: it reconnects when it gets a fresh token at every connect
 * (`canRefreshToken`: the sync protocol's version 2 with a token function), else it is closed.
 */
export type CloseOutcome = 'reconnect' | 'reconnect after serviceRestartDelayMs' | 'closed' | 'reconnect with a token function, else closed';

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
 * | 1011 | the server could not complete an op for a reason that is not the op's (a failed data-file write): the op stays in the outbox; or an `authenticate`/`authorize` hook returned a promise (a configuration error, reported to `onError`) | reconnect |
 * | 1013 | load or timing: a slow consumer, connection caps (total or per address), no `hello` before the deadline, too many failed authentications from one address, too many hellos on one connection, an op that would push a recent id out of the dedup record | reconnect after serviceRestartDelayMs |
 * | 4400 | the `hello` asked for a protocol version the server does not speak | closed |
 * | 4401 | missing or wrong token | closed |
 * | 4403 | a browser `Origin` the server does not allow | closed |
 * | 4409 | protocol version 2: a newer connection said hello with the same user and client id | closed |
 * | 4419 | protocol version 2: the token expired, at connect or with no fresh token (`auth`) by its expiry | reconnect with a token function, else closed |
 * | 4423 | protocol version 2, per-user tokens: the hello's client id belongs to another user (the newcomer is closed; the owner is untouched) | closed |
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
    when: "the server could not complete an op for a reason that is not the op's (a failed data-file write); the op stays in the outbox; or an authenticate/authorize hook returned a promise (a configuration error, reported to onError)",
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
  { code: CloseCode.APP_CLIENT_REPLACED, when: 'protocol version 2: a newer connection said hello with the same user and client id', client: 'closed' },
  {
    code: CloseCode.APP_TOKEN_EXPIRED,
    when: 'protocol version 2: the token expired, at connect or with no fresh token (auth) by its expiry',
    client: 'reconnect with a token function, else closed',
  },
  {
    code: CloseCode.APP_CLIENT_ID_TAKEN,
    when: 'protocol version 2, per-user tokens: the hello client id belongs to another user (the newcomer is closed; the owner is untouched)',
    client: 'closed',
  },
];

/** The default client's outcome for a close with `code`. */
export function closeOutcome(code: number): CloseOutcome {
  const withFixedToken = shouldReconnect({ code, reason: '', wasClean: true });
  const withTokenFunction = shouldReconnect({ code, reason: '', wasClean: true, canRefreshToken: true });
  if (!withFixedToken) return withTokenFunction ? 'reconnect with a token function, else closed' : 'closed';
  return isServiceRestart(code) ? 'reconnect after serviceRestartDelayMs' : 'reconnect';
}
