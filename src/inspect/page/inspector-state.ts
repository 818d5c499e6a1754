/**
 * The inspector page's model: relay messages in, what to show out. Pure (no
 * DOM), so it is unit-tested in Node and the views only read it.
 *
 * Every message updates the model at once (cheap); the views catch up once per
 * animation frame by reading `takeChanges()`, so a flood of messages costs one
 * DOM update per frame, not one per message.
 */
import { previewValue } from '../context-tree.js';
import { activeStateIds, definitionToGraph, describeStateValue, type StateGraph } from '../definition-graph.js';

export interface LogEntry {
  /** Grows by one per entry of this actor (gaps show entries dropped by the cap). */
  readonly seq: number;
  /** When the inspected process saw it, epoch milliseconds. */
  readonly at: number;
  readonly eventType: string;
  /** The event without its type, redacted, cut to one line. */
  readonly payload: string;
  /** The resulting state in one line (`errored.waiting`). */
  readonly state: string;
  /** Ids of the resulting active states, ancestors included. */
  readonly stateIds: readonly string[];
}

export interface ActorRecord {
  /** Prefixed by the relay (`s1:x:0`). */
  readonly sessionId: string;
  readonly relaySourceId: string;
  /** The machine id, or the actor's id for other logic. */
  name: string;
  parentId: string | null;
  definition: string | null;
  /** Null for actors that are not state machines (callbacks, promises). */
  graph: StateGraph | null;
  /** The latest snapshot value, status and context. */
  value: unknown;
  status: string;
  context: unknown;
  /** False until the first `@xstate.snapshot` (the actor message's snapshot is taken late). */
  hasSnapshot: boolean;
  createdAt: number;
  lastAt: number;
  /** The event of the latest snapshot. */
  lastEventType: string | null;
  /** Bumped on every snapshot: the views compare it to know what changed. */
  version: number;
  log: LogEntry[];
  logSeq: number;
}

export interface SourceRecord {
  readonly id: string;
  connected: boolean;
}

/** What changed since the views last looked. */
export interface Changes {
  actors: boolean;
  /** The selected actor, or its definition. */
  chart: boolean;
  highlight: boolean;
  log: boolean;
  context: boolean;
}

export interface InspectorStateOptions {
  /** Log entries kept per actor. @default 500 */
  logLimit?: number;
  /** Actors remembered; stopped non-machine actors are forgotten first. @default 300 */
  maxActors?: number;
  /** Characters of an event payload in the log. @default 160 */
  payloadLength?: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function time(value: unknown, fallback: number): number {
  const parsed = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isFinite(parsed) ? parsed : fallback;
}

const NO_CHANGES: Changes = { actors: false, chart: false, highlight: false, log: false, context: false };

export class InspectorState {
  readonly actors = new Map<string, ActorRecord>();
  readonly sources = new Map<string, SourceRecord>();
  selectedId: string | null = null;
  /** Once the user picks an actor, new connections no longer take the selection. */
  userSelected = false;
  messages = 0;
  ignored = 0;
  private changes: Changes = { ...NO_CHANGES };
  private readonly logLimit: number;
  private readonly maxActors: number;
  private readonly payloadLength: number;
  private readonly graphs = new Map<string, StateGraph | null>();
  private restoreId: string | null = null;

  constructor(options: InspectorStateOptions = {}) {
    this.logLimit = options.logLimit ?? 500;
    this.maxActors = options.maxActors ?? 300;
    this.payloadLength = options.payloadLength ?? 160;
  }

  /** Forgets everything (the relay replays it all on reconnect); a selection the user made comes back with its actor. */
  reset(): void {
    this.actors.clear();
    this.sources.clear();
    if (this.userSelected && this.selectedId !== null) this.restoreId = this.selectedId;
    this.selectedId = null;
    this.changes = { actors: true, chart: true, highlight: true, log: true, context: true };
  }

  /** Returns what changed since the last call, and starts over. */
  takeChanges(): Changes {
    const changes = this.changes;
    this.changes = { ...NO_CHANGES };
    return changes;
  }

  get selected(): ActorRecord | null {
    return this.selectedId === null ? null : (this.actors.get(this.selectedId) ?? null);
  }

  /** Actors worth listing: state machines, roots first, newest last. */
  machineActors(): ActorRecord[] {
    return [...this.actors.values()].filter((actor) => actor.graph !== null);
  }

  select(sessionId: string): void {
    if (!this.actors.has(sessionId) || sessionId === this.selectedId) return;
    this.selectedId = sessionId;
    this.userSelected = true;
    this.markSelected();
  }

  /** Applies one message from the relay; anything unknown is counted and ignored. */
  apply(message: unknown): void {
    this.messages++;
    if (!isRecord(message) || typeof message.type !== 'string') {
      this.ignored++;
      return;
    }
    switch (message.type) {
      case 'relay.hello':
        this.reset();
        for (const source of Array.isArray(message.sources) ? message.sources : []) {
          if (isRecord(source) && typeof source.id === 'string') {
            this.sources.set(source.id, { id: source.id, connected: source.connected === true });
          }
        }
        return;
      case 'relay.source.opened':
      case 'relay.source.closed':
        if (typeof message.relaySourceId === 'string') {
          this.sources.set(message.relaySourceId, { id: message.relaySourceId, connected: message.type === 'relay.source.opened' });
          this.changes.actors = true;
          this.autoSelect();
        }
        return;
      case '@xstate.actor':
        return this.onActor(message);
      case '@xstate.snapshot':
        return this.onSnapshot(message);
      case '@xstate.event':
        // The log is written from snapshots: each carries its event and the resulting state, in order.
        return;
      default:
        this.ignored++;
    }
  }

  private onActor(message: Record<string, unknown>): void {
    const sessionId = message.sessionId;
    const relaySourceId = message.relaySourceId;
    if (typeof sessionId !== 'string' || typeof relaySourceId !== 'string') {
      this.ignored++;
      return;
    }
    const definition = typeof message.definition === 'string' ? message.definition : null;
    const at = time(message.createdAt, Date.now());
    let actor = this.actors.get(sessionId);
    if (actor === undefined) {
      actor = {
        sessionId,
        relaySourceId,
        name: typeof message.name === 'string' ? message.name : sessionId,
        parentId: typeof message.parentId === 'string' ? message.parentId : null,
        definition: null,
        graph: null,
        value: undefined,
        status: 'active',
        context: undefined,
        hasSnapshot: false,
        createdAt: at,
        lastAt: at,
        lastEventType: null,
        version: 0,
        log: [],
        logSeq: 0,
      };
      this.actors.set(sessionId, actor);
      if (!this.sources.has(relaySourceId)) this.sources.set(relaySourceId, { id: relaySourceId, connected: true });
      this.evict();
    }
    if (definition !== actor.definition) {
      actor.definition = definition;
      actor.graph = this.graphOf(definition);
      if (sessionId === this.selectedId) this.changes.chart = true;
    }
    const snapshot = message.snapshot;
    if (!actor.hasSnapshot && isRecord(snapshot)) {
      actor.value = snapshot.value;
      actor.context = snapshot.context;
      if (typeof snapshot.status === 'string') actor.status = snapshot.status;
      actor.version++;
    }
    this.changes.actors = true;
    this.autoSelect();
    if (sessionId === this.selectedId) this.markSelected();
  }

  private onSnapshot(message: Record<string, unknown>): void {
    const actor = typeof message.sessionId === 'string' ? this.actors.get(message.sessionId) : undefined;
    const snapshot = message.snapshot;
    if (actor === undefined || !isRecord(snapshot)) {
      this.ignored++;
      return;
    }
    const at = time(message.createdAt, actor.lastAt);
    actor.lastAt = at;
    actor.hasSnapshot = true;
    actor.value = snapshot.value;
    actor.context = snapshot.context;
    const statusChanged = typeof snapshot.status === 'string' && snapshot.status !== actor.status;
    if (typeof snapshot.status === 'string') actor.status = snapshot.status;
    actor.version++;
    if (statusChanged) this.changes.actors = true;
    if (actor.graph === null) return;

    const event = isRecord(message.event) ? message.event : {};
    const { type: eventType, ...payload } = event;
    actor.lastEventType = typeof eventType === 'string' ? eventType : null;
    actor.log.push({
      seq: ++actor.logSeq,
      at,
      eventType: typeof eventType === 'string' ? eventType : '(no type)',
      payload: Object.keys(payload).length === 0 ? '' : previewValue(payload, this.payloadLength),
      state: describeStateValue(snapshot.value),
      stateIds: activeStateIds(actor.graph, snapshot.value),
    });
    // Drop in batches so a flood does not shift the array on every message.
    if (actor.log.length > this.logLimit + 50) actor.log.splice(0, actor.log.length - this.logLimit);
    if (actor.sessionId === this.selectedId) {
      this.changes.highlight = true;
      this.changes.log = true;
      this.changes.context = true;
    }
  }

  /** The log of an actor, capped (the array may hold a few more between trims). */
  logOf(actor: ActorRecord): LogEntry[] {
    return actor.log.length > this.logLimit ? actor.log.slice(-this.logLimit) : actor.log;
  }

  /** Same definition, same graph: every reconnect's actor message repeats it. */
  private graphOf(definition: string | null): StateGraph | null {
    if (definition === null) return null;
    if (!this.graphs.has(definition)) {
      if (this.graphs.size > 20) this.graphs.clear();
      this.graphs.set(definition, definitionToGraph(definition));
    }
    return this.graphs.get(definition) ?? null;
  }

  private markSelected(): void {
    this.changes = { actors: true, chart: true, highlight: true, log: true, context: true };
  }

  /**
   * Until the user picks one, the selection follows the newest machine on a
   * connected source (a client that restarts gets a new source and session).
   */
  private autoSelect(): void {
    if (this.restoreId !== null && this.actors.get(this.restoreId)?.graph != null) {
      this.selectedId = this.restoreId;
      this.restoreId = null;
      this.markSelected();
      return;
    }
    const current = this.selected;
    if (current !== null && (this.userSelected || this.sources.get(current.relaySourceId)?.connected !== false)) return;
    const candidates = this.machineActors();
    const live = candidates.filter((actor) => this.sources.get(actor.relaySourceId)?.connected !== false);
    const pool = live.length > 0 ? live : candidates;
    const roots = pool.filter((actor) => actor.parentId === null);
    const next = (roots.length > 0 ? roots : pool).at(-1);
    if (next !== undefined && next.sessionId !== this.selectedId) {
      this.selectedId = next.sessionId;
      this.markSelected();
    }
  }

  private evict(): void {
    while (this.actors.size > this.maxActors) {
      let victim: string | undefined;
      for (const actor of this.actors.values()) {
        if (actor.graph === null && actor.status !== 'active' && actor.sessionId !== this.selectedId) {
          victim = actor.sessionId;
          break;
        }
      }
      if (victim === undefined) {
        for (const actor of this.actors.values()) {
          if (actor.sessionId !== this.selectedId) {
            victim = actor.sessionId;
            break;
          }
        }
      }
      if (victim === undefined) return;
      this.actors.delete(victim);
      this.changes.actors = true;
    }
  }
}
