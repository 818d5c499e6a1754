/**
 * The simulated network between the client and `createSyncServer`: sockets that keep TCP's
 * promise (no reordering inside one socket, one FIFO per direction) and break every other one
 * on demand: refused connections, drops without a close frame, stalls (half-open links),
 * latency spikes, closes from the server.
 */
import type { Connection } from '../../connection.js';
import type { Peer, Session, SyncServer } from '../../server/sync-server.js';
import type { Frame, WebSocketLike } from '../../types.js';
import type { TestClock } from '../clock.js';
import { CLOSED, CONNECTING, InvariantError, OPEN } from './invariants.js';
import type { SimQueue } from './queue.js';

/** What the network draws on: the clock, the seeded randomness, the queue and the trace. */
export interface SimContext {
  clock: TestClock;
  int(low: number, high: number): number;
  queue: SimQueue;
  trace(line: string): void;
}

export interface SimNetwork {
  /** The socket class the client's WebSocket factory constructs. */
  readonly SimSocket: new (url: string) => SimSocketLike;
  /** Every socket ever created, in order. */
  readonly sockets: readonly SimSocketLike[];
  /** Links the server still serves. */
  liveLinks(): SimLink[];
  /** The server closes the link with `code` (its close frame arrives after latency). */
  closeFromServer(link: SimLink, code: number): void;
  /** False during an outage: every dial is refused. */
  serverUp: boolean;
  /** Dials still to refuse. */
  refusing: number;
  /** Until then, every delivery takes 200 to 2,000 ms. */
  latencySpikeUntil: number;
}

export interface SimSocketLike extends WebSocketLike {
  readonly id: number;
  readonly link: SimLink;
  /** A frame from the server arrives (the read ends with the delivery batch). */
  arrive(frame: string): void;
  drop(): void;
  closedBy(code: number, reason: string, wasClean: boolean): void;
}

export interface SimLink {
  stalledUntil: number;
  readonly serverGone: boolean;
  readonly socket: SimSocketLike;
  deliver(direction: 'toClient' | 'toServer', label: string, run: () => void): void;
  serverSideGone(): void;
}

/**
 * Creates the network. `client` returns the connection under test (created after the network,
 * since its WebSocket factory is the network's): a read of nothing but rejected frames must
 * leave its model as it was.
 */
export function createNetwork(sim: SimContext, server: SyncServer, client: () => Connection): SimNetwork {
  const { clock, int, queue, trace } = sim;
  const latencyBase = int(1, 20);
  const latency = () => (clock.now() < network.latencySpikeUntil ? int(200, 2_000) : latencyBase + int(0, 5));

  interface Delivery {
    due: number;
    label: string;
    run: () => void;
  }

  class Link {
    stalledUntil = 0;
    session: Session | null = null;
    serverGone = false;
    /** One FIFO per direction, drained by one pump each: TCP never reorders inside a socket. */
    private readonly pending = { toClient: [] as Delivery[], toServer: [] as Delivery[] };
    constructor(readonly socket: SimSocket) {}

    /** Schedules an in-order delivery in one direction; a stall holds it and everything behind it. */
    deliver(direction: 'toClient' | 'toServer', label: string, run: () => void) {
      const pending = this.pending[direction];
      const due = Math.max(clock.now() + latency(), pending.at(-1)?.due ?? 0);
      pending.push({ due, label, run });
      if (pending.length === 1) this.schedulePump(direction);
    }

    private schedulePump(direction: 'toClient' | 'toServer') {
      const head = this.pending[direction][0];
      if (head !== undefined) queue.at(Math.max(head.due, this.stalledUntil), head.label, () => this.pump(direction));
    }

    private pump(direction: 'toClient' | 'toServer') {
      const pending = this.pending[direction];
      while (pending.length > 0 && (pending[0] as Delivery).due <= clock.now() && clock.now() >= this.stalledUntil) {
        (pending.shift() as Delivery).run();
      }
      // Everything that arrived together is one read, as TCP coalesces segments (after a stall, a burst).
      if (direction === 'toClient') this.socket.endRead();
      this.schedulePump(direction);
    }

    /** The server side forgets the connection. */
    serverSideGone() {
      if (this.serverGone) return;
      this.serverGone = true;
      this.session?.closed();
      links.delete(this);
    }
  }


  class SimSocket implements WebSocketLike {
    readyState = CONNECTING;
    bufferedAmount = 0;
    binaryType = 'blob';
    /* eslint-disable @typescript-eslint/no-explicit-any */
    onopen: ((event: any) => void) | null = null;
    onmessage: ((event: any) => void) | null = null;
    onerror: ((event: any) => void) | null = null;
    onclose: ((event: any) => void) | null = null;
    onreadend: (() => void) | null = null;
    /* eslint-enable @typescript-eslint/no-explicit-any */
    readonly id = sockets.length + 1;
    readonly link = new Link(this);

    constructor(readonly url: string) {
      sockets.push(this);
      const refused = !network.serverUp || network.refusing > 0;
      if (network.refusing > 0) network.refusing--;
      trace(`net: socket#${this.id} dials ${refused ? '(will be refused)' : ''}`);
      queue.after(latency(), `handshake socket#${this.id}`, () => {
        if (this.readyState !== CONNECTING) return;
        if (refused || !network.serverUp) {
          this.readyState = CLOSED;
          this.onerror?.({ message: 'connect ECONNREFUSED' });
          this.onclose?.({ code: 1006, reason: '', wasClean: false });
          return;
        }
        this.readyState = OPEN;
        links.add(this.link);
        const link = this.link;
        const peer: Peer = {
          send: (frame) => {
            if (link.serverGone) return;
            link.deliver('toClient', `s→c socket#${this.id}`, () => this.arrive(frame));
          },
          close: (code, reason) => {
            link.serverSideGone();
            link.deliver('toClient', `close ${code} socket#${this.id}`, () => this.closedBy(code, reason, true));
          },
          bufferedAmount: 0,
        };
        link.session = server.connect(peer, { urlToken: null });
        this.onopen?.({});
      });
    }

    /** The frames of the read in progress, and the client as it was before it. */
    private read: { frames: string[]; data: unknown; rejected: number } | null = null;

    arrive(frame: string) {
      if (this.readyState !== OPEN) return;
      trace(`s→c socket#${this.id} ${frame.length > 120 ? `${frame.slice(0, 120)}… (${frame.length} chars)` : frame}`);
      this.read ??= { frames: [], data: client().model.getData(), rejected: client().getStatus().counters.rejected };
      this.read.frames.push(frame);
      this.onmessage?.({ data: frame });
    }

    /** The read is over: the client applies its frames together. */
    endRead() {
      const read = this.read;
      if (read === null) return;
      this.read = null;
      if (read.frames.length > 1) trace(`net: socket#${this.id} reads ${read.frames.length} frames at once`);
      this.onreadend?.();
      // rejected frames never change the model: a read of nothing but rejected frames leaves it as it was
      const rejected = client().getStatus().counters.rejected - read.rejected;
      if (rejected >= read.frames.length && client().model.getData() !== read.data) {
        throw new InvariantError(`rejected frames changed the model: ${read.frames.map((f) => f.slice(0, 60)).join(' | ')}`);
      }
    }

    closedBy(code: number, reason: string, wasClean: boolean) {
      if (this.readyState === CLOSED) return;
      this.readyState = CLOSED;
      trace(`net: socket#${this.id} closed ${code}${reason ? ` ${reason}` : ''}`);
      this.onclose?.({ code, reason, wasClean });
    }

    send(data: Frame): void {
      if (this.readyState !== OPEN) return;
      const text = typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer);
      trace(`c→s socket#${this.id} ${text.length > 120 ? `${text.slice(0, 120)}…` : text}`);
      const link = this.link;
      link.deliver('toServer', `c→s socket#${this.id}`, () => {
        if (!link.serverGone) link.session?.receive(text);
      });
    }

    close(code?: number, reason?: string): void {
      if (this.readyState === CLOSED || this.readyState === 2) return;
      const wasOpen = this.readyState === OPEN;
      this.readyState = 2;
      const link = this.link;
      if (!wasOpen) {
        queue.after(0, `abort socket#${this.id}`, () => this.closedBy(1006, '', false));
        return;
      }
      link.deliver('toServer', `close→s socket#${this.id}`, () => {
        link.serverSideGone();
        link.deliver('toClient', `close-ack socket#${this.id}`, () => this.closedBy(code ?? 1005, reason ?? '', true));
      });
    }

    terminate(): void {
      if (this.readyState === CLOSED) return;
      this.readyState = CLOSED;
      const link = this.link;
      queue.after(latency(), `fin socket#${this.id}`, () => link.serverSideGone());
    }

    /** The connection dies without a close frame: the client sees 1006 (after latency), the server forgets it. */
    drop() {
      const link = this.link;
      link.serverSideGone();
      queue.after(latency(), `drop socket#${this.id}`, () => this.closedBy(1006, '', false));
    }
  }

  const links = new Set<Link>();
  const sockets: SimSocket[] = [];
  const network: SimNetwork = {
    SimSocket,
    sockets,
    liveLinks: () => [...links],
    closeFromServer(link, code) {
      link.serverSideGone();
      link.deliver('toClient', `close ${code}`, () => link.socket.closedBy(code, code === 4401 ? 'unauthorized' : 'closing', true));
    },
    serverUp: true,
    refusing: 0,
    latencySpikeUntil: 0,
  };
  return network;
}
