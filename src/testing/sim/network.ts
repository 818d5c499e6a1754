/**
 * The simulated network between the clients and `createSyncServer`: sockets that keep TCP's
 * promise (no reordering inside one socket, one FIFO per direction) and break every other one
 * on demand: refused connections, drops without a close frame, stalls (half-open links),
 * latency spikes, closes from the server. Each client gets its own socket class
 * (`socketClass`), so the invariants and the faults can tell the clients' links apart.
 */
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

/** One client on the network, and what the simulation watches of it. */
export interface SimClient {
  /** Names the client in the trace: '' when a run has one client. */
  readonly label: string;
  /**
   * The client's data (compared by identity) and its rejected-frame count: a read of nothing but
   * rejected frames must leave every piece of data as it was.
   */
  readState(): { data: readonly unknown[]; rejected: number };
  /** The server sends a frame on socket `socketId` (called at the server's time, before the latency). */
  sent?(frame: string, socketId: number): void;
  /** A frame from the server arrives at the client. */
  arrived?(frame: string): void;
  /** The client writes a frame. */
  wrote?(frame: string): void;
  /** The server takes a frame from socket `socketId`: `receive` hands it over. */
  received?(frame: string, receive: () => void, socketId: number): void;
  /** The server closes socket `socketId` with `code` (while handling a frame, or on a timer). */
  closedByServer?(code: number, socketId: number): void;
  /** The server forgot socket `socketId`. */
  gone?(socketId: number): void;
}

/**
 * Where a dial goes: one server, or (a run with several instances) what a load balancer picks for
 * each new connection, `null` when no instance is up (the dial is refused).
 */
export type SimRoute = SyncServer | ((previous: number | null) => { server: SyncServer; instance: number } | null);

export interface SimNetwork {
  /** The socket class a client's WebSocket factory constructs. */
  socketClass(client: SimClient): new (url: string) => SimSocketLike;
  /** Every socket ever created, in order. */
  readonly sockets: readonly SimSocketLike[];
  /** Every socket of one client, in order. */
  socketsOf(client: SimClient): readonly SimSocketLike[];
  /** Links the server still serves (of one client, when given). */
  liveLinks(client?: SimClient): SimLink[];
  /** The server closes the link with `code` (its close frame arrives after latency). */
  closeFromServer(link: SimLink, code: number): void;
  /**
   * Instance `instance` dies: its links end without a word from it (its sessions are not told:
   * the process is gone); each client sees 1006 after latency.
   */
  crash(instance: number): void;
  /** False during an outage: every dial is refused. */
  serverUp: boolean;
  /** Dials still to refuse. */
  refusing: number;
  /** Until then, every delivery takes 200 to 2,000 ms. */
  latencySpikeUntil: number;
}

export interface SimSocketLike extends WebSocketLike {
  readonly id: number;
  readonly client: SimClient;
  readonly link: SimLink;
  /** A frame from the server arrives (the read ends with the delivery batch). */
  arrive(frame: string): void;
  drop(): void;
  closedBy(code: number, reason: string, wasClean: boolean): void;
}

export interface SimLink {
  stalledUntil: number;
  /** The server instance it reached (0 with one server). */
  readonly instance: number;
  readonly serverGone: boolean;
  readonly socket: SimSocketLike;
  deliver(direction: 'toClient' | 'toServer', label: string, run: () => void): void;
  serverSideGone(): void;
}

/** Creates the network in front of `route`; each client then takes its socket class from `socketClass`. */
export function createNetwork(sim: SimContext, route: SimRoute): SimNetwork {
  const { clock, int, queue, trace } = sim;
  const pick = typeof route === 'function' ? route : () => ({ server: route, instance: 0 });
  const latencyBase = int(1, 20);
  const latency = () => (clock.now() < network.latencySpikeUntil ? int(200, 2_000) : latencyBase + int(0, 5));

  interface Delivery {
    due: number;
    label: string;
    run: () => void;
  }

  class Link {
    stalledUntil = 0;
    instance = 0;
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

    /** The server side forgets the connection (`crashed`: the process died, its session is not told). */
    serverSideGone(crashed = false) {
      if (this.serverGone) return;
      this.serverGone = true;
      if (!crashed) this.session?.closed();
      links.delete(this);
      this.socket.client.gone?.(this.socket.id);
    }
  }


  abstract class SimSocket implements WebSocketLike {
    abstract readonly client: SimClient;
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
    /** `socket#N`, with the client's label when a run has several. */
    readonly name: string;

    constructor(readonly url: string, client: SimClient) {
      sockets.push(this);
      this.name = client.label === '' ? `socket#${this.id}` : `socket#${this.id}${client.label}`;
      const refused = !network.serverUp || network.refusing > 0;
      if (network.refusing > 0) network.refusing--;
      trace(`net: ${this.name} dials ${refused ? '(will be refused)' : ''}`);
      queue.after(latency(), `handshake ${this.name}`, () => {
        if (this.readyState !== CONNECTING) return;
        const own = byClient.get(client) ?? [];
        let previous: number | null = null;
        for (let i = own.length - 1; i >= 0 && previous === null; i--) if (own[i] !== this && (own[i] as SimSocket).link.session !== null) previous = (own[i] as SimSocket).link.instance;
        const target = refused || !network.serverUp ? null : pick(previous);
        if (target === null) {
          this.readyState = CLOSED;
          this.onerror?.({ message: 'connect ECONNREFUSED' });
          this.onclose?.({ code: 1006, reason: '', wasClean: false });
          return;
        }
        if (typeof route === 'function') trace(`net: ${this.name} reaches instance ${target.instance}`);
        this.readyState = OPEN;
        this.link.instance = target.instance;
        links.add(this.link);
        const link = this.link;
        const peer: Peer = {
          send: (frame) => {
            if (link.serverGone) return;
            client.sent?.(frame, this.id);
            link.deliver('toClient', `s→c ${this.name}`, () => this.arrive(frame));
          },
          close: (code, reason) => {
            client.closedByServer?.(code, this.id);
            link.serverSideGone();
            link.deliver('toClient', `close ${code} ${this.name}`, () => this.closedBy(code, reason, true));
          },
          bufferedAmount: 0,
        };
        link.session = target.server.connect(peer, { urlToken: null });
        this.onopen?.({});
      });
    }

    /** The frames of the read in progress, and the client as it was before it. */
    private read: { frames: string[]; data: readonly unknown[]; rejected: number } | null = null;

    arrive(frame: string) {
      if (this.readyState !== OPEN) return;
      trace(`s→c ${this.name} ${frame.length > 120 ? `${frame.slice(0, 120)}… (${frame.length} chars)` : frame}`);
      this.read ??= { frames: [], ...this.client.readState() };
      this.read.frames.push(frame);
      this.client.arrived?.(frame);
      this.onmessage?.({ data: frame });
    }

    /** The read is over: the client applies its frames together. */
    endRead() {
      const read = this.read;
      if (read === null) return;
      this.read = null;
      if (read.frames.length > 1) trace(`net: ${this.name} reads ${read.frames.length} frames at once`);
      this.onreadend?.();
      // rejected frames never change the model: a read of nothing but rejected frames leaves it as it was
      const after = this.client.readState();
      const rejected = after.rejected - read.rejected;
      if (rejected >= read.frames.length && after.data.some((data, i) => data !== read.data[i])) {
        throw new InvariantError(`rejected frames changed the model: ${read.frames.map((f) => f.slice(0, 60)).join(' | ')}`);
      }
    }

    closedBy(code: number, reason: string, wasClean: boolean) {
      if (this.readyState === CLOSED) return;
      this.readyState = CLOSED;
      trace(`net: ${this.name} closed ${code}${reason ? ` ${reason}` : ''}`);
      this.onclose?.({ code, reason, wasClean });
    }

    send(data: Frame): void {
      if (this.readyState !== OPEN) return;
      const text = typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer);
      this.client.wrote?.(text);
      trace(`c→s ${this.name} ${text.length > 120 ? `${text.slice(0, 120)}…` : text}`);
      const link = this.link;
      link.deliver('toServer', `c→s ${this.name}`, () => {
        const session = link.session;
        if (link.serverGone || session === null) return;
        const client = this.client;
        if (client.received === undefined) session.receive(text);
        else client.received(text, () => session.receive(text), this.id);
      });
    }

    close(code?: number, reason?: string): void {
      if (this.readyState === CLOSED || this.readyState === 2) return;
      const wasOpen = this.readyState === OPEN;
      this.readyState = 2;
      const link = this.link;
      if (!wasOpen) {
        queue.after(0, `abort ${this.name}`, () => this.closedBy(1006, '', false));
        return;
      }
      link.deliver('toServer', `close→s ${this.name}`, () => {
        link.serverSideGone();
        link.deliver('toClient', `close-ack ${this.name}`, () => this.closedBy(code ?? 1005, reason ?? '', true));
      });
    }

    terminate(): void {
      if (this.readyState === CLOSED) return;
      this.readyState = CLOSED;
      const link = this.link;
      queue.after(latency(), `fin ${this.name}`, () => link.serverSideGone());
    }

    /** The connection dies without a close frame: the client sees 1006 (after latency), the server forgets it. */
    drop() {
      const link = this.link;
      link.serverSideGone();
      queue.after(latency(), `drop ${this.name}`, () => this.closedBy(1006, '', false));
    }
  }

  const links = new Set<Link>();
  const sockets: SimSocket[] = [];
  const byClient = new Map<SimClient, SimSocket[]>();
  const network: SimNetwork = {
    socketClass(client) {
      const own: SimSocket[] = [];
      byClient.set(client, own);
      return class extends SimSocket {
        readonly client = client;
        constructor(url: string) {
          super(url, client);
          own.push(this);
        }
      };
    },
    sockets,
    socketsOf: (client) => byClient.get(client) ?? [],
    liveLinks: (client) => (client === undefined ? [...links] : [...links].filter((link) => link.socket.client === client)),
    closeFromServer(link, code) {
      link.serverSideGone();
      link.deliver('toClient', `close ${code}`, () => link.socket.closedBy(code, code === 4401 ? 'unauthorized' : 'closing', true));
    },
    crash(instance) {
      for (const link of [...links]) {
        if (link.instance !== instance) continue;
        link.serverSideGone(true);
        queue.after(latency(), `reset ${link.socket.name}`, () => link.socket.closedBy(1006, '', false));
      }
    },
    serverUp: true,
    refusing: 0,
    latencySpikeUntil: 0,
  };
  return network;
}
