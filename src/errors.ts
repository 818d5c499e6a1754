/**
 * The one error class of statesocket. Tell errors apart by `code`, never by
 * message text; the codes are listed in the README's error table.
 */
import type { ErrorCode } from '../machines/connection.types.js';

export type { ErrorCode };

/** Every error code with what it means; the README's table is generated from the same words. */
export const ERROR_CODES: Readonly<Record<ErrorCode, string>> = {
  ERR_CONNECT_TIMEOUT: 'The handshake did not complete within connectTimeoutMs; the attempt was abandoned.',
  ERR_SOCKET: 'The socket reported an error (refused connection, bad handshake, protocol violation).',
  ERR_ABNORMAL_CLOSE: 'The connection closed with a code the close policy reconnects after (1006, 1011, 1012, 1013, ...); closeCode and the reason are kept.',
  ERR_FATAL_CLOSE: 'The server closed with a code the close policy does not retry (1008, 4401, ...); the code is kept.',
  ERR_HEARTBEAT_TIMEOUT: 'No inbound frame arrived within heartbeat.timeoutMs after a ping: the link is half-open.',
  ERR_URL: 'The url provider threw or rejected, or returned something that is not a ws:// or wss:// URL.',
  ERR_OFFLINE: 'The environment reported that the network is offline; the machine waits for network.online.',
  ERR_RETRIES_EXHAUSTED: 'reconnect.maxAttempts reconnects failed in a row; the machine stopped in closed.',
  ERR_MALFORMED_FRAME: 'An inbound frame could not be parsed (parse threw, or returned a promise); it was rejected and counted.',
  ERR_UNKNOWN_MESSAGE:
    'An inbound message is not one the protocol knows (its decode threw, returned a promise, or returned something that is not an InboundEvent or an array of them, such as undefined or an event of an unknown type; or applied threw); it was rejected and counted, and like every rejected frame it counts as inbound for the heartbeat. An applied that rejects later is kept in lastCallbackError with this code.',
  ERR_INVALID_MESSAGE:
    "The `inbound` schema refused a message (or validated it asynchronously, which is not supported): it was rejected and counted; the Model never saw it.",
  ERR_PAYLOAD_TOO_LARGE: 'A frame exceeds maxMessageBytes: send() throws, an inbound one is rejected and counted.',
  ERR_MODEL_REJECTED:
    'model.update threw on a message; it was rejected and counted. update must be synchronous: a promise it returns is not awaited (the message counts as applied), and its rejection is kept in lastCallbackError with this code.',
  ERR_SERVER_REJECTED: 'The server answered a frame we sent with an error frame, kept in status.lastRejected (an op it refused is settled, not re-sent).',
  ERR_OUTBOX_FULL: 'send() found the outbox at outbox.limit under the reject policy; nothing queued was lost.',
  ERR_STOPPED: 'The connection was stopped with stop(); it cannot be used again. An op still queued, never written, at stop() fails with it (it never applies).',
  ERR_RENDER_FAILED:
    'view.render, model.getData or the render scheduler threw (or returned a promise that rejected): kept in lastCallbackError and counted in callbackErrors; the next change renders again.',
  ERR_GREETING_FAILED:
    "The greeting option, or the protocol's greeting or resync, threw, or a greeting returned a promise (a greeting must be synchronous): the attempt fails (errored, then backoff) and the outbox stays queued.",
  ERR_LISTENER_FAILED: 'A status listener threw or returned a promise that rejected: the other listeners still ran; kept in lastCallbackError and counted in callbackErrors.',
  ERR_POLICY_FAILED:
    'reconnect.shouldReconnect threw or returned a non-boolean, or the random, now or clock option threw (random: or returned something outside [0, 1); now: or returned a non-finite number): the default close policy, Math.random, Date.now() or the host setTimeout stood in; kept in lastCallbackError and counted in callbackErrors.',
  ERR_INVALID_CHANNEL: 'A channel name breaks the name rule (1 to 128 characters of A-Z a-z 0-9 _ . : / @ -, not __proto__): channel() throws; a server refusal fails the channel.',
  ERR_CHANNEL_FORBIDDEN: 'The token may not subscribe to the channel (at subscribe, or after a token refresh): the channel fails and its unanswered ops fail with this code; other channels go on.',
  ERR_CHANNEL_UNKNOWN: 'The server serves no channel of that name: the channel fails; other channels go on.',
  ERR_CHANNEL_LIMIT: 'The connection already holds as many channels as the server allows: the channel fails; unsubscribe another first.',
  ERR_CHANNEL_UNAVAILABLE: 'The server cannot load the channel now: the channel is stale and subscribes again after retryAfterMs (its ops wait).',
  ERR_RATE_LIMITED: 'Too many subscribes of one channel on one connection: the channel subscribes again after retryAfterMs.',
  ERR_CHANNEL_REFUSED: 'The server refused or ended the channel with a code this client does not know; final unless the server gave retryAfterMs.',
  ERR_NOT_SUBSCRIBED: 'The channel is not held: send() or changes() on a channel that was unsubscribed or failed, or an op whose channel ended before it was written, or that the server answered it did not hold the channel: it never applied.',
  ERR_PUBLISH_FORBIDDEN: 'The server refused an op: the token may not publish on the channel. The op is settled (its send() promise rejects).',
  ERR_PRESENCE_FORBIDDEN: 'The token may not use presence on the channel: the subscription stands without it (channel status presenceError).',
  ERR_CLIENT_FORGOTTEN: 'A resent op the server cannot judge (it forgot this client on the channel): it may or may not have applied. Settled: the application decides whether to send the change again.',
  ERR_OP_UNCONFIRMED:
    "An op was written to a socket, but its answer can no longer come: the socket went (or stop() was called) after its channel ended, or stop() was called while it was in flight. It may or may not have applied. Settled: the application decides whether to send the change again.",
  ERR_DATA_LIMIT: "The server refused an op that would take the channel's document over its size limit. The op is settled.",
  ERR_STORAGE_FULL: 'The server refused an op that would store a new channel: it stores as many channels as it may (maxStoredChannels). The op is settled; sending the change again later may succeed.',
  ERR_INVALID_FRAME: 'The server refused an op whose values break the value rule or its size limit. The op is settled.',
  ERR_NO_CONNECTION:
    'A hook of statesocket/react that takes the surrounding connection (useConnection() without options, useChannel, useConnectionStatus and useModel without one) was called outside a ConnectionProvider: pass options or a connection, or render it inside one. Also thrown by a ConnectionProvider given both `options` and `connection`, or neither.',
};

export class StatesocketError extends Error {
  override readonly name = 'StatesocketError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True when `error` is a StatesocketError, optionally with the given code. */
export function isStatesocketError(error: unknown, code?: ErrorCode): error is StatesocketError {
  return error instanceof StatesocketError && (code === undefined || error.code === code);
}

/**
 * A thrown value as text, for a status message. Never throws itself: user code
 * may throw anything, even an object whose conversion to a string throws.
 */
export function describeThrown(error: unknown): string {
  try {
    return error instanceof Error ? String(error.message) : String(error);
  } catch {
    return `a thrown ${typeof error} that cannot be shown`;
  }
}
