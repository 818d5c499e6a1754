/**
 * The socket: one WebSocket for one attempt, adapted to machine events. An
 * effect of the connection's actor (`openSocket` on entering `session`,
 * `releaseSocket` on leaving it), not an actor of its own (issue 15: a second
 * actor per connection held about 2 KiB).
 *
 * Works with the browser's `WebSocket` and with `ws` (through the `on*`
 * handler properties both have). It resolves the URL (string or provider),
 * decodes every inbound frame through `parse` and the protocol layer, writes
 * what the chart tells it to, and reports congestion. When the chart leaves
 * `session` (or the actor stops), `release` detaches every handler and closes
 * or terminates whatever is still open: a released socket never talks again.
 *
 * Inbound frames are read in batches. `ws` hands over every frame of one TCP
 * read synchronously; the actor keeps them and, at the end of the read (the
 * next microtask, or at once when the transport calls `onreadend`), decodes
 * them in order and sends the consecutive data messages to the chart as one
 * `message.received` with `messages[]`. One machine event per read instead of
 * one per frame is what makes a flood cheap (see bench/RESULTS.md). Order is
 * kept: any other socket event (open, close, error, congestion) first flushes
 * what was read before it, and an ack, pong, rejection or resync in the middle
 * of a read splits the batch around it. The browser's own WebSocket hands
 * over one frame per task: there each frame is decoded at once
 * (`readsOneFramePerTask`).
 */
import type { CloseEventInfo } from './close-codes.js';
import type { ErrorCode, SocketCommand, SocketEvent } from '../machines/connection.types.js';
import { catchRejection } from './callbacks.js';
import { describeThrown } from './errors.js';
import { exceedsBytes, frameBytes, parseJsonFrame } from './frames.js';
import { checkDecoded, type InboundEvent, type Protocol } from './protocol.js';
import { redactUrl } from './redact.js';
import type { Frame, Model, WebSocketConstructor, WebSocketLike } from './types.js';

/** `url` option: a URL, or a function called for every attempt (fresh tokens), possibly async. */
export type UrlProvider = string | (() => string | Promise<string>);

export interface SocketActorDeps {
  WebSocket: WebSocketConstructor;
  url: UrlProvider;
  protocols: string | string[] | undefined;
  parse: (data: string | ArrayBuffer) => unknown;
  protocol: Protocol<never>;
  model: Model<never>;
  maxMessageBytes: number;
  maxBufferedBytes: number;
  now: () => number;
  /** The close policy: its `false` becomes `reconnectable: false` on `socket.closed` (absent: every close reconnects). */
  shouldReconnect?: (close: CloseEventInfo) => boolean;
}

/** The code of the error `ws` reports for a frame over its `maxPayload`. */
const WS_PAYLOAD_TOO_LARGE = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

type Emitted = SocketEvent extends infer E ? (E extends SocketEvent ? Omit<E, 'socketId' | 'at'> : never) : never;

const describe = describeThrown;

/** Checks that a resolved URL can be dialled; returns the problem, or null. */
export function urlProblem(url: unknown): string | null {
  if (typeof url !== 'string') return `expected a URL string, received ${url === null ? 'null' : typeof url}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${redactUrl(url)}" is not a valid URL`;
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    return `expected a ws:// or wss:// URL, received ${parsed.protocol}//`;
  }
  return null;
}

/**
 * Turns one raw inbound frame into the events it stands for. Never throws.
 * `pending` holds the messages decoded before it in the same read and not yet
 * applied to the model (the protocol layer reads them to check sequence).
 */
export function decodeFrame(
  data: unknown,
  deps: Pick<SocketActorDeps, 'parse' | 'protocol' | 'model' | 'maxMessageBytes'>,
  pending: readonly unknown[] = [],
): InboundEvent[] {
  const events = classify(data, deps, pending);
  return Array.isArray(events) ? events : [events];
}

/** `decodeFrame` without wrapping a single event in an array (it runs for every frame). */
function classify(
  data: unknown,
  deps: Pick<SocketActorDeps, 'parse' | 'protocol' | 'model' | 'maxMessageBytes'>,
  pending: readonly unknown[],
): InboundEvent | InboundEvent[] {
  let frame: string | ArrayBuffer;
  if (typeof data === 'string' || data instanceof ArrayBuffer) frame = data;
  else if (ArrayBuffer.isView(data)) {
    frame = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  } else {
    return { type: 'message.rejected', code: 'ERR_MALFORMED_FRAME', message: `unsupported frame type ${typeof data}` };
  }
  if (exceedsBytes(frame, deps.maxMessageBytes)) {
    return {
      type: 'message.rejected',
      code: 'ERR_PAYLOAD_TOO_LARGE',
      message: `inbound frame of ${frameBytes(frame)} bytes exceeds maxMessageBytes (${deps.maxMessageBytes})`,
    };
  }
  let parsed: unknown;
  try {
    parsed = deps.parse(frame);
  } catch (error) {
    const preview = typeof frame === 'string' ? JSON.stringify(frame.slice(0, 40)) : `${frame.byteLength} binary bytes`;
    return {
      type: 'message.rejected',
      code: 'ERR_MALFORMED_FRAME',
      message: `could not parse inbound frame ${preview}: ${describe(error)}`,
    };
  }
  // parse and decode must be synchronous: a frame whose parse or decode returned a promise is rejected at once.
  // The default parse is JSON.parse, whose values hold no functions: no thenable to look for (issue 15).
  if (deps.parse !== parseJsonFrame && catchRejection(parsed)) {
    return { type: 'message.rejected', code: 'ERR_MALFORMED_FRAME', message: 'parse returned a promise; it must be synchronous' };
  }
  let decoded: unknown;
  try {
    decoded = deps.protocol.decode(parsed, deps.model, pending);
  } catch (error) {
    return { type: 'message.rejected', code: 'ERR_UNKNOWN_MESSAGE', message: describe(error) };
  }
  // One data message, the common case, costs two comparisons; anything else is checked in full.
  if (isDataEvent(decoded)) return decoded;
  if (catchRejection(decoded)) {
    return { type: 'message.rejected', code: 'ERR_UNKNOWN_MESSAGE', message: 'protocol.decode returned a promise; it must be synchronous' };
  }
  return checkDecoded(decoded);
}

/**
 * `decode`'s answer for a data frame, and not a thenable: the same test as `isThenable` and a type,
 * written here because `isThenable`, shared by every callback's result, reads `then` on every kind
 * of object, a megamorphic load at each frame (issue 15); here it sees `decode`'s events alone.
 */
function isDataEvent(value: unknown): value is InboundEvent {
  const event = value as { type?: unknown; then?: unknown } | null | undefined;
  if (event?.type !== 'message.received') return false;
  try {
    return typeof event.then !== 'function';
  } catch {
    return false; // a `then` getter that throws: `catchRejection` settles it
  }
}

/** `ws`'s WebSocket (Node): an EventEmitter whose 'message' listeners get `(data, isBinary)`. */
interface NodeWs extends WebSocketLike {
  on(event: 'message', listener: (data: unknown, isBinary: boolean) => void): unknown;
  on(event: 'open', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'message', listener: (data: unknown, isBinary: boolean) => void): unknown;
  off(event: 'open', listener: () => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}

function isNodeWs(socket: WebSocketLike): socket is NodeWs {
  const candidate = socket as Partial<NodeWs>;
  return typeof candidate.on === 'function' && typeof candidate.off === 'function' && typeof socket.terminate === 'function';
}

/** A stream that holds its writes until uncorked: `ws`'s TCP socket. */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** `ws`'s TCP socket (its `_socket`), or null: other sockets (the browser's, a fake) buffer their own writes. */
function tcpSocketOf(socket: NodeWs): Corkable | null {
  const tcp = (socket as { _socket?: Partial<Corkable> | null })._socket;
  return tcp !== null && tcp !== undefined && typeof tcp.cork === 'function' && typeof tcp.uncork === 'function' ? (tcp as Corkable) : null;
}

/** What `readsOneFramePerTask` looks at in the host: its own WebSocket, and whether it is Node (or says it is). */
interface Host {
  WebSocket?: unknown;
  process?: { versions?: { node?: unknown } };
}

/**
 * True for the browser's own WebSocket (a window's or a worker's). A browser fires every message event as a task
 * of its own and performs a microtask checkpoint after each listener (HTML, "clean up after running script"), so
 * there a read is one frame and the microtask that would batch it runs right after anyway: decoding at once saves
 * a second script call per message (issue 15, bench/probes/browser-profile.ts). Hosts that hand over many frames
 * in one call keep the batch: `ws`, and the WebSocket of Node (undici), jsdom, Bun and Deno, which all say they are
 * Node in `process.versions.node`. Fakes and users' sockets are not the host's WebSocket: they keep it too.
 */
export function readsOneFramePerTask(socket: WebSocketLike, host: Host = globalThis as Host): boolean {
  return typeof host.WebSocket === 'function' && socket instanceof host.WebSocket && host.process?.versions?.node === undefined;
}

/** Detaches our handlers and makes sure the socket goes away. */
function release(socket: WebSocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onreadend = null;
  // `ws` emits 'error' when a CONNECTING socket is closed or terminated; with no
  // listener that error would be thrown as an uncaught exception.
  socket.onerror = () => {};
  if (socket.readyState === CLOSED) return;
  try {
    if (typeof socket.terminate === 'function') socket.terminate();
    else if (socket.readyState === CONNECTING || socket.readyState === OPEN) socket.close(1000);
  } catch {
    // closing a socket that is already going away: nothing left to do
  }
}

/** One attempt's socket, as the connection's actions drive it. */
export interface SocketSession {
  /** Does what the chart said: write frames, start the close handshake, check the buffered bytes. */
  command(command: SocketCommand): void;
  /** Detaches every handler and closes or terminates the socket; nothing is reported after. */
  release(): void;
}

/** Where a socket keeps the attempt it belongs to, for the handlers every attempt shares (they run with `this` the socket). */
const ATTEMPT = Symbol('statesocket.attempt');

type AttachedSocket = WebSocketLike & { [ATTEMPT]?: SocketAttempt };

/**
 * The shared handlers. `ws` calls its listeners, and its `on*` handler wrappers, with `this` the socket (so do
 * the fakes and the simulator for `onreadend`): one function for every connection instead of a closure each
 * (heap per connection, issue 15). Other sockets (the browser's, a user's) get closures over the attempt.
 */
function onWsMessage(this: AttachedSocket, data: unknown, isBinary: boolean): void {
  // `ws` hands text over as a Buffer: its own toString() (UTF-8), not String(), which first looks up Symbol.toPrimitive (issue 15)
  this[ATTEMPT]?.read(isBinary ? data : (data as { toString(): string }).toString());
}
function onWsOpen(this: AttachedSocket): void {
  this[ATTEMPT]?.opened();
}
function onWsError(this: AttachedSocket, error: Error): void {
  this[ATTEMPT]?.errored(error);
}
function onWsClose(this: AttachedSocket, event: { code?: number; reason?: string; wasClean?: boolean }): void {
  this[ATTEMPT]?.closed(event);
}
function onReadEnd(this: AttachedSocket): void {
  this[ATTEMPT]?.flushInbound();
}

/** One attempt's socket: its state in fields, its steps as methods (one object per attempt, issue 15). */
class SocketAttempt implements SocketSession {
  socket: AttachedSocket | null = null;
  stopped = false;
  /** Frames of the current read, not yet decoded. */
  unread: unknown[] = [];
  flushQueued = false;
  flushing = false;
  /** The URL dialled, redacted, for `socket.opened`. */
  target = '';
  /** `flushInbound` for `queueMicrotask`. */
  readonly flush = () => this.flushInbound();
  /** The TCP socket corked by this turn's first write, until `uncork` runs. */
  corked: Corkable | null = null;
  /** Lets this turn's writes go, in one system call: queued by the first write of a turn. */
  readonly uncork = () => {
    const corked = this.corked;
    this.corked = null;
    corked?.uncork();
  };

  constructor(
    readonly deps: SocketActorDeps,
    readonly socketId: number,
    readonly sendBack: (event: SocketEvent) => void,
  ) {}

  emit(event: Emitted): void {
    if (this.stopped) return;
    const full = { ...event, socketId: this.socketId, at: this.deps.now() } as SocketEvent;
    this.sendBack(full);
  }

  /** `emit` of a read's data messages, the hot case: the event made once, without a spread of a polymorphic object (issue 15). */
  emitMessages(messages: unknown[]): void {
    if (this.stopped) return;
    this.sendBack({ type: 'message.received', messages, socketId: this.socketId, at: this.deps.now() });
  }

  /** Decodes the frames read so far, in order; consecutive data messages become one event. */
  flushInbound(): void {
    this.flushQueued = false;
    // A frame read while the chart handles this flush's events joins this flush, after the others.
    if (this.flushing) return;
    this.flushing = true;
    try {
      let batch: unknown[] = [];
      while (this.unread.length > 0 && !this.stopped) {
        const frames = this.unread;
        this.unread = [];
        for (let i = 0; i < frames.length && !this.stopped; i++) {
          const events = classify(frames[i], this.deps, batch);
          if (!Array.isArray(events) && events.type === 'message.received') {
            batch.push(events.message);
            continue;
          }
          for (const inbound of Array.isArray(events) ? events : [events]) {
            if (inbound.type === 'message.received') {
              batch.push(inbound.message);
              continue;
            }
            if (batch.length > 0) this.emitMessages(batch);
            batch = [];
            this.emit(inbound);
          }
        }
      }
      if (batch.length > 0) this.emitMessages(batch);
    } finally {
      this.flushing = false;
    }
  }

  /** Every event but inbound data: what was read before it reaches the chart first. */
  report(event: Emitted): void {
    this.flushInbound();
    this.emit(event);
  }

  fail(code: ErrorCode, message: string): void {
    this.report({ type: 'socket.errored', code, message });
  }

  read(data: unknown): void {
    if (this.stopped) return;
    this.unread.push(data);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flush);
  }

  /** A frame that is a read of its own (`readsOneFramePerTask`): decoded now, not at the next microtask. */
  readAlone(data: unknown): void {
    if (this.stopped) return;
    this.unread.push(data);
    this.flushInbound();
  }

  opened(): void {
    this.report({ type: 'socket.opened', url: this.target });
  }

  /** The browser's error event, or the `Error` that `ws` emits as its 'error' event. */
  errored(event: { message?: string; error?: unknown } | Error | undefined): void {
    if (event instanceof Error) event = { message: event.message, error: event };
    const message = event?.message ?? (event?.error !== undefined ? describe(event.error) : 'WebSocket error');
    if ((event?.error as { code?: unknown } | undefined)?.code === WS_PAYLOAD_TOO_LARGE) {
      // ws (maxPayload = maxMessageBytes, src/node.ts) refused a frame from its header, unread; it cannot
      // skip the rest of that frame, so it closes with 1009: the frame is rejected, and the attempt fails.
      const refused = `an inbound frame is over maxMessageBytes (${this.deps.maxMessageBytes}): ws refused it from its header, unread, and closed the connection with 1009 (${message})`;
      this.report({ type: 'message.rejected', code: 'ERR_PAYLOAD_TOO_LARGE', message: refused });
      return this.fail('ERR_PAYLOAD_TOO_LARGE', refused);
    }
    this.fail('ERR_SOCKET', message);
  }

  closed(event: { code?: number; reason?: string; wasClean?: boolean }): void {
    const close = { code: event.code ?? 1006, reason: event.reason ?? '', wasClean: event.wasClean ?? false };
    const shouldReconnect = this.deps.shouldReconnect;
    if (shouldReconnect === undefined || shouldReconnect(close)) this.report({ type: 'socket.closed', ...close });
    else this.report({ type: 'socket.closed', ...close, reconnectable: false });
  }

  dial(url: unknown): void {
    if (this.stopped) return;
    const problem = urlProblem(url);
    if (problem !== null) return this.fail('ERR_URL', problem);
    const target = url as string;
    let created: AttachedSocket;
    try {
      created = new this.deps.WebSocket(target, this.deps.protocols);
    } catch (error) {
      return this.fail('ERR_URL', `cannot open ${redactUrl(target)}: ${describe(error)}`);
    }
    this.socket = created;
    this.target = redactUrl(target);
    created.binaryType = 'arraybuffer';
    created[ATTEMPT] = this;
    created.onreadend = onReadEnd;
    if (isNodeWs(created)) {
      // `ws`'s own events: the same data as `onmessage`, `onopen` and `onerror` without an event object per
      // frame (bench/RESULTS.md, scenario 1), and without the wrapper function `ws` makes for each `on*`
      // handler (about 0.4 KiB per connection, issue 15); text arrives as a Buffer, binary as an ArrayBuffer.
      // `close` stays `onclose`: only `ws`'s wrapper knows `wasClean`.
      created.on('message', onWsMessage);
      created.on('open', onWsOpen);
      created.on('error', onWsError);
      created.onclose = onWsClose;
    } else {
      created.onmessage = readsOneFramePerTask(created)
        ? (event: { data: unknown }) => this.readAlone(event.data)
        : (event: { data: unknown }) => this.read(event.data);
      created.onopen = () => this.opened();
      created.onerror = (event: { message?: string; error?: unknown } | undefined) => this.errored(event);
      created.onclose = (event: { code?: number; reason?: string; wasClean?: boolean }) => this.closed(event);
    }
  }

  reportPressure(current: WebSocketLike): void {
    const bufferedAmount = current.bufferedAmount;
    if (bufferedAmount > this.deps.maxBufferedBytes) this.report({ type: 'socket.congested', bufferedAmount });
    else this.report({ type: 'socket.drained' });
  }

  command(command: SocketCommand): void {
    const current = this.socket;
    if (current === null) return;
    switch (command.type) {
      case 'write': {
        // Node (`ws`): the frames written in one turn of the event loop (a greeting, the sends of a loop, an
        // op's resends) leave together at its end, in one system call instead of one each.
        if (this.corked === null && isNodeWs(current)) {
          const tcp = tcpSocketOf(current);
          if (tcp !== null) {
            tcp.cork();
            this.corked = tcp;
            queueMicrotask(this.uncork);
          }
        }
        for (const frame of command.frames) {
          try {
            current.send(frame as Frame);
          } catch (error) {
            // the browser throws while CONNECTING; the chart only writes when open
            this.fail('ERR_SOCKET', `send failed: ${describe(error)}`);
            return;
          }
        }
        if (current.bufferedAmount > this.deps.maxBufferedBytes) this.reportPressure(current);
        return;
      }
      case 'checkDrain':
        this.reportPressure(current);
        return;
      case 'close':
        try {
          current.close(command.code, command.reason);
        } catch (error) {
          this.fail('ERR_SOCKET', `close failed: ${describe(error)}`);
        }
        return;
    }
  }

  release(): void {
    this.stopped = true;
    this.unread = [];
    // what this turn wrote goes out before the socket is terminated
    this.uncork();
    const socket = this.socket;
    if (socket === null) return;
    if (isNodeWs(socket)) {
      socket.off('message', onWsMessage);
      socket.off('open', onWsOpen);
      socket.off('error', onWsError);
    }
    release(socket);
  }
}

/**
 * Opens the socket of attempt `socketId` (the chart's `openSocket`): resolves the URL, dials, and
 * sends what happens to `sendBack`, each event stamped with `socketId` and `deps.now()`.
 */
export function openSocket(deps: SocketActorDeps, socketId: number, sendBack: (event: SocketEvent) => void): SocketSession {
  const attempt = new SocketAttempt(deps, socketId, sendBack);
  let resolved: string | Promise<string>;
  let prepared: void | Promise<void>;
  try {
    resolved = typeof deps.url === 'function' ? deps.url() : deps.url;
  } catch (error) {
    attempt.fail('ERR_URL', `url provider threw: ${describe(error)}`);
    return attempt;
  }
  try {
    // what the protocol needs before it greets (a token function's token), fetched with the URL
    prepared = deps.protocol.prepare?.();
  } catch (error) {
    attempt.fail('ERR_GREETING_FAILED', `the protocol's prepare threw: ${describe(error)}`);
    return attempt;
  }
  const ready =
    prepared === undefined
      ? undefined
      : Promise.resolve(prepared).catch((error: unknown) => {
          throw new Error(`the token function failed: ${describe(error)}`, { cause: 'prepare' });
        });
  if (typeof resolved === 'string' && ready === undefined) attempt.dial(resolved);
  else {
    Promise.all([resolved, ready]).then(
      ([url]) => attempt.dial(url),
      (error: unknown) =>
        error instanceof Error && error.cause === 'prepare'
          ? attempt.fail('ERR_GREETING_FAILED', error.message)
          : attempt.fail('ERR_URL', `url provider rejected: ${describe(error)}`),
    );
  }
  return attempt;
}
