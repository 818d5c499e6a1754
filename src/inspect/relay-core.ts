/**
 * The inspector relay's logic without sockets: accept frames from sources
 * (inspected processes), prefix their ids, fan them out to pages, and keep a
 * bounded replay buffer so a page opened late still shows every machine and
 * its current state. `relay-server.ts` puts it behind `ws`; tests drive it directly.
 *
 * ```
 *  source s1 ──frame──▶ receive ─ parse, validate ─▶ prefix ids (x:0 → s1:x:0)
 *                                                      │
 *                                  replay buffer ◀─────┤  latest @xstate.actor per session
 *                                                      │  latest @xstate.snapshot per session
 *                                                      │  last `replayLimit` events and snapshots
 *                                                      ▼
 *  page ◀── replay (on open) ───────────────── fan-out to every page
 * ```
 *
 * Why the prefix: `@statelyai/inspect` session ids restart at `x:0` in every
 * process, so two inspected clients would otherwise claim the same actor.
 */

/** The three message types `@statelyai/inspect` sends (one JSON text frame each). */
export type InspectionMessageType = '@xstate.actor' | '@xstate.event' | '@xstate.snapshot';

/** An inspection message as relayed to pages: ids prefixed, and the relay's source id added. */
export interface RelayedInspectionMessage {
  type: InspectionMessageType;
  sessionId: string;
  rootId?: string;
  parentId?: string;
  sourceId?: string;
  /** The relay's id of the source connection that sent it (`s1`). */
  relaySourceId: string;
  /** Position in the relay's stream (grows by one per relayed message). */
  relaySeq: number;
  [key: string]: unknown;
}

/** A source connection in a `relay.hello` message. */
export interface RelaySourceInfo {
  id: string;
  connected: boolean;
  /** Epoch milliseconds. */
  openedAt: number;
  closedAt: number | null;
}

/**
 * What the relay itself tells pages: the sources present when the page
 * connected (`relay.hello`, always the first message), and sources coming and going.
 */
export type RelayNotice =
  | { type: 'relay.hello'; protocol: 1; sources: RelaySourceInfo[] }
  | { type: 'relay.source.opened'; relaySourceId: string; at: number }
  | { type: 'relay.source.closed'; relaySourceId: string; at: number };

export interface RelayCoreOptions {
  /**
   * Events and snapshots replayed to a page that opens late, besides the latest
   * actor and snapshot of every session (which are always kept).
   * @default 1000
   */
  replayLimit?: number;
  /**
   * Sessions (actors) remembered for replay. Past it, stopped actors are forgotten
   * first (a new socket actor starts on every reconnect), then actors of closed
   * sources, then the oldest.
   * @default 200
   */
  maxSessions?: number;
  /**
   * Largest frame accepted from a source, in UTF-16 code units (the transport
   * limits bytes before that).
   * @default 8388608 (8 Mi)
   */
  maxFrameLength?: number;
  /** Clock for notices, in epoch milliseconds. @default Date.now */
  now?: () => number;
}

export const DEFAULT_RELAY_CORE_OPTIONS = {
  replayLimit: 1000,
  maxSessions: 200,
  maxFrameLength: 8 * 1024 * 1024,
} as const;

/** Why a frame was dropped (the relay never fails on a frame). */
export type RejectReason = 'unknown-source' | 'binary' | 'too-large' | 'not-json' | 'not-inspection' | 'bad-session';

export type ReceiveResult = { ok: true; message: RelayedInspectionMessage } | { ok: false; reason: RejectReason; detail: string };

/** A page as the core sees it: something frames can be written to. A throwing sink is removed. */
export type PageSink = (frame: string) => void;

export interface RelayStats {
  sources: number;
  connectedSources: number;
  pages: number;
  sessions: number;
  received: number;
  relayed: number;
  rejected: number;
  replayBuffered: number;
}

export interface RelayCore {
  /** Registers a source connection; returns its id (`s1`, `s2`, …) and tells the pages. */
  openSource(): string;
  /** Marks a source as gone (its actors stay in the replay buffer until evicted) and tells the pages. */
  closeSource(sourceId: string): void;
  /**
   * Takes one frame from a source. A valid inspection message is prefixed,
   * remembered and sent to every page; anything else is counted and dropped.
   * Never throws.
   */
  receive(sourceId: string, frame: unknown): ReceiveResult;
  /** Adds a page: sends it the replay at once, then every relayed message. Returns its removal. */
  addPage(sink: PageSink): () => void;
  /** The frames a page opened now would receive first, in order. */
  replay(): string[];
  stats(): RelayStats;
}

interface SessionRecord {
  sourceId: string;
  actorFrame: string | null;
  snapshotFrame: string | null;
  snapshotSeq: number;
  stopped: boolean;
}

interface TailEntry {
  seq: number;
  frame: string;
}

const MESSAGE_TYPES = new Set<string>(['@xstate.actor', '@xstate.event', '@xstate.snapshot']);
const ID_FIELDS = ['sessionId', 'rootId', 'parentId', 'sourceId'] as const;

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`createRelayCore: ${name} must be a whole number >= 0; received ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Creates the relay's state.
 *
 * @example
 * ```ts
 * const core = createRelayCore({ replayLimit: 500 });
 * const source = core.openSource();            // 's1'
 * core.addPage((frame) => pageSocket.send(frame));
 * core.receive(source, text);                   // relayed with sessionId 's1:x:0'
 * ```
 */
export function createRelayCore(options: RelayCoreOptions = {}): RelayCore {
  const replayLimit = positiveInteger('replayLimit', options.replayLimit, DEFAULT_RELAY_CORE_OPTIONS.replayLimit);
  const maxSessions = Math.max(1, positiveInteger('maxSessions', options.maxSessions, DEFAULT_RELAY_CORE_OPTIONS.maxSessions));
  const maxFrameLength = positiveInteger('maxFrameLength', options.maxFrameLength, DEFAULT_RELAY_CORE_OPTIONS.maxFrameLength);
  const now = options.now ?? Date.now;

  const sources = new Map<string, RelaySourceInfo>();
  const sessions = new Map<string, SessionRecord>();
  let tail: TailEntry[] = [];
  const pages = new Set<PageSink>();
  let nextSource = 1;
  let seq = 0;
  let received = 0;
  let relayed = 0;
  let rejected = 0;

  function broadcast(frame: string): void {
    for (const sink of pages) {
      try {
        sink(frame);
      } catch {
        pages.delete(sink);
      }
    }
  }

  function notice(message: RelayNotice): void {
    broadcast(JSON.stringify(message));
  }

  function reject(reason: RejectReason, detail: string): ReceiveResult {
    rejected++;
    return { ok: false, reason, detail };
  }

  function evictSessions(): void {
    while (sessions.size > maxSessions) {
      let victim: string | undefined;
      for (const [id, record] of sessions) {
        if (record.stopped) {
          victim = id;
          break;
        }
      }
      if (victim === undefined) {
        for (const [id, record] of sessions) {
          if (sources.get(record.sourceId)?.connected !== true) {
            victim = id;
            break;
          }
        }
      }
      victim ??= sessions.keys().next().value;
      if (victim === undefined) return;
      sessions.delete(victim);
    }
  }

  function remember(message: RelayedInspectionMessage, frame: string): void {
    let record = sessions.get(message.sessionId);
    if (record === undefined) {
      record = { sourceId: message.relaySourceId, actorFrame: null, snapshotFrame: null, snapshotSeq: -1, stopped: false };
      sessions.set(message.sessionId, record);
      evictSessions();
    }
    if (message.type === '@xstate.actor') {
      record.actorFrame = frame;
      return;
    }
    if (message.type === '@xstate.snapshot') {
      record.snapshotFrame = frame;
      record.snapshotSeq = message.relaySeq;
      const snapshot = message.snapshot as { status?: unknown } | undefined;
      record.stopped = snapshot?.status === 'stopped' || snapshot?.status === 'done' || snapshot?.status === 'error';
    }
    if (replayLimit === 0) return;
    tail.push({ seq: message.relaySeq, frame });
    // Trim in batches (one slice per replayLimit/4 messages) rather than a shift per message.
    if (tail.length > replayLimit + Math.max(1, Math.floor(replayLimit / 4))) tail = tail.slice(-replayLimit);
  }

  function currentTail(): TailEntry[] {
    return tail.length > replayLimit ? tail.slice(-replayLimit) : tail;
  }

  function replay(): string[] {
    const frames: string[] = [];
    const hello: RelayNotice = { type: 'relay.hello', protocol: 1, sources: [...sources.values()].map((source) => ({ ...source })) };
    frames.push(JSON.stringify(hello));
    for (const record of sessions.values()) if (record.actorFrame !== null) frames.push(record.actorFrame);
    const window = currentTail();
    const firstSeq = window[0]?.seq ?? Number.POSITIVE_INFINITY;
    // A latest snapshot inside the window is replayed there, after the older ones.
    const older = [...sessions.values()]
      .filter((record) => record.snapshotFrame !== null && record.snapshotSeq < firstSeq)
      .sort((a, b) => a.snapshotSeq - b.snapshotSeq);
    for (const record of older) frames.push(record.snapshotFrame as string);
    for (const entry of window) frames.push(entry.frame);
    return frames;
  }

  return {
    openSource() {
      const id = `s${nextSource++}`;
      const at = now();
      sources.set(id, { id, connected: true, openedAt: at, closedAt: null });
      notice({ type: 'relay.source.opened', relaySourceId: id, at });
      return id;
    },

    closeSource(sourceId) {
      const source = sources.get(sourceId);
      if (source === undefined || !source.connected) return;
      source.connected = false;
      source.closedAt = now();
      notice({ type: 'relay.source.closed', relaySourceId: sourceId, at: source.closedAt });
      // Forget sources no session refers to any more, so the hello stays small.
      for (const [id, info] of sources) {
        if (info.connected) continue;
        let used = false;
        for (const record of sessions.values()) {
          if (record.sourceId === id) {
            used = true;
            break;
          }
        }
        if (!used && id !== sourceId) sources.delete(id);
      }
    },

    receive(sourceId, frame) {
      received++;
      try {
        if (sources.get(sourceId)?.connected !== true) return reject('unknown-source', `no open source ${sourceId}`);
        if (typeof frame !== 'string') return reject('binary', 'inspection messages are JSON text frames');
        if (frame.length > maxFrameLength) {
          return reject('too-large', `a frame of ${frame.length} characters is over maxFrameLength (${maxFrameLength})`);
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(frame);
        } catch (error) {
          return reject('not-json', (error as Error).message);
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          return reject('not-inspection', 'expected a JSON object');
        }
        const input = parsed as Record<string, unknown>;
        if (typeof input.type !== 'string' || !MESSAGE_TYPES.has(input.type)) {
          return reject('not-inspection', `expected type @xstate.actor, @xstate.event or @xstate.snapshot; received ${JSON.stringify(input.type)}`);
        }
        if (typeof input.sessionId !== 'string' || input.sessionId === '') {
          return reject('bad-session', 'sessionId must be a non-empty string');
        }
        const message = { ...input } as RelayedInspectionMessage;
        for (const field of ID_FIELDS) {
          const value = input[field];
          if (typeof value === 'string') message[field] = `${sourceId}:${value}`;
          else delete message[field];
        }
        message.relaySourceId = sourceId;
        message.relaySeq = ++seq;
        const out = JSON.stringify(message);
        remember(message, out);
        relayed++;
        broadcast(out);
        return { ok: true, message };
      } catch (error) {
        // A frame must never take the relay down (a getter-free JSON value cannot throw, but be sure).
        return reject('not-inspection', (error as Error).message);
      }
    },

    addPage(sink) {
      for (const frame of replay()) {
        try {
          sink(frame);
        } catch {
          return () => {};
        }
      }
      pages.add(sink);
      return () => {
        pages.delete(sink);
      };
    },

    replay,

    stats() {
      let connectedSources = 0;
      for (const source of sources.values()) if (source.connected) connectedSources++;
      return {
        sources: sources.size,
        connectedSources,
        pages: pages.size,
        sessions: sessions.size,
        received,
        relayed,
        rejected,
        replayBuffered: currentTail().length,
      };
    },
  };
}
