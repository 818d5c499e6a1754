/**
 * A WebSocket that a test drives by hand. It follows the WebSocket API the
 * library uses (readyState, bufferedAmount, binaryType, on* handlers, send,
 * close) and adds controls for the other side: `open()`, `receive()`,
 * `error()`, `close()` or `serverClose()` from the peer, `drop()`.
 */
import type { Frame, WebSocketConstructor, WebSocketLike } from '../types.js';

export interface FakeSockets {
  /** The constructor to pass as the `WebSocket` option. */
  readonly WebSocket: WebSocketConstructor;
  /** Every socket created, oldest first. */
  readonly all: FakeWebSocket[];
  /** Sockets not yet CLOSED. */
  readonly live: FakeWebSocket[];
  /** The newest socket (throws when none was created). */
  readonly latest: FakeWebSocket;
}

export class FakeWebSocket implements WebSocketLike {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  readonly url: string;
  readonly protocols: string | string[] | undefined;
  readyState = FakeWebSocket.CONNECTING;
  /** Set by the test to simulate a slow network. */
  bufferedAmount = 0;
  binaryType = 'blob';
  /** Frames the client wrote, in order. */
  readonly sent: Frame[] = [];
  /** Every `close(code, reason)` call the client made. */
  readonly closeCalls: Array<{ code: number | undefined; reason: string | undefined }> = [];
  /** True once the client called `terminate()`. */
  terminated = false;
  /**
   * When true, a close the client starts gets no answer (no `close` event):
   * the peer is gone. Otherwise the handshake completes at once.
   */
  hangOnClose = false;

  /* eslint-disable @typescript-eslint/no-explicit-any */
  onopen: ((event: any) => void) | null = null;
  onmessage: ((event: any) => void) | null = null;
  onerror: ((event: any) => void) | null = null;
  onclose: ((event: any) => void) | null = null;
  onreadend: (() => void) | null = null;
  /* eslint-enable @typescript-eslint/no-explicit-any */

  constructor(url: string, protocols?: string | string[]) {
    this.url = url;
    this.protocols = protocols;
  }

  // ── the WebSocket API, as the client uses it ─────────────────────────────
  send(data: Frame): void {
    if (this.readyState === FakeWebSocket.CONNECTING) {
      throw new Error("InvalidStateError: Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.");
    }
    if (this.readyState !== FakeWebSocket.OPEN) return; // browsers discard silently
    this.sent.push(data);
  }

  /** The client's close, or (called by a test) the peer closing with this code. */
  close(code?: number, reason?: string): void {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.closeCalls.push({ code, reason });
    if (this.hangOnClose) {
      this.readyState = FakeWebSocket.CLOSING;
      return;
    }
    this.finish(code ?? 1005, reason ?? '', true);
  }

  terminate(): void {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.terminated = true;
    this.finish(1006, '', false);
  }

  // ── controls for the test (the other side of the wire) ───────────────────
  /** The handshake succeeds. */
  open(): void {
    if (this.readyState !== FakeWebSocket.CONNECTING) throw new Error(`cannot open a socket in readyState ${this.readyState}`);
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.({ type: 'open' });
  }

  /**
   * Frames arrive in one read: each a string, an ArrayBuffer, or any value sent
   * as JSON text. The client applies them before `receive` returns, together,
   * as it applies the frames of one TCP read from `ws`.
   */
  receive(...frames: unknown[]): void {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error(`cannot receive on a socket in readyState ${this.readyState}`);
    for (const data of frames) {
      const payload = typeof data === 'string' || data instanceof ArrayBuffer ? data : JSON.stringify(data);
      this.onmessage?.({ type: 'message', data: payload });
    }
    this.onreadend?.();
  }

  /** The socket reports an error; browsers and ws follow it with a close (call `drop()` for that). */
  error(message = 'fake socket error'): void {
    this.onerror?.({ type: 'error', message });
  }

  /** The peer closes with a close frame, whatever `hangOnClose` says (it answers a close we started, too). */
  serverClose(code = 1000, reason = ''): void {
    this.finish(code, reason, true);
  }

  /** The connection is lost without a close frame (1006). */
  drop(): void {
    this.finish(1006, '', false);
  }

  /** Messages the client sent, parsed as JSON where they are text. */
  sentMessages(): unknown[] {
    return this.sent.map((frame) => (typeof frame === 'string' ? JSON.parse(frame) : frame));
  }

  private finish(code: number, reason: string, wasClean: boolean): void {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ type: 'close', code, reason, wasClean });
  }
}

/** A fresh family of fake sockets, so tests never share instances. */
export function createFakeSockets(): FakeSockets {
  const all: FakeWebSocket[] = [];
  class TrackedFakeWebSocket extends FakeWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      all.push(this);
    }
  }
  return {
    WebSocket: TrackedFakeWebSocket,
    all,
    get live() {
      return all.filter((socket) => socket.readyState !== FakeWebSocket.CLOSED);
    },
    get latest() {
      const socket = all.at(-1);
      if (socket === undefined) throw new Error('no fake socket has been created yet');
      return socket;
    },
  };
}
