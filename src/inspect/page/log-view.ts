/**
 * The event log: one row per snapshot of the selected machine (time, event,
 * payload, resulting state), newest first. Rows are added and removed
 * incrementally, so a frame costs as much as the entries it brings, and the
 * table never holds more rows than the cap. Paused, it stops changing and
 * says how many entries arrived since.
 */
import { triggerOfEvent } from '../definition-graph.js';
import type { LogEntry } from './inspector-state.js';
import { h } from './dom.js';

function clock(at: number): string {
  const date = new Date(at);
  const pad = (value: number, size = 2) => String(value).padStart(size, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

export class LogView {
  private readonly rows = new Map<number, HTMLTableRowElement>();
  private renderedFor: string | null = null;
  private lastSeq = 0;
  paused = false;
  private pendingSince = 0;

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly status: HTMLElement,
    private readonly limit: number,
  ) {}

  /**
   * Brings the table up to date with `entries` (oldest first) of actor `owner`.
   * While paused only the "new entries" count moves.
   */
  update(owner: string | null, entries: readonly LogEntry[]): void {
    const newest = entries.at(-1)?.seq ?? 0;
    if (this.paused && owner === this.renderedFor) {
      const waiting = newest - this.pendingSince;
      this.status.textContent = waiting > 0 ? `paused · ${waiting} new` : 'paused';
      return;
    }
    if (owner !== this.renderedFor || newest < this.lastSeq) {
      this.body.replaceChildren();
      this.rows.clear();
      this.renderedFor = owner;
      this.lastSeq = 0;
    }
    const fresh = entries.filter((entry) => entry.seq > this.lastSeq).slice(-this.limit);
    const created = fresh.map((entry): [LogEntry, HTMLTableRowElement] => [entry, this.row(entry)]);
    // The map stays oldest first (for trimming); the table shows newest first.
    for (const [entry, row] of created) this.rows.set(entry.seq, row);
    const fragment = document.createDocumentFragment();
    for (let index = created.length - 1; index >= 0; index--) fragment.append((created[index] as [LogEntry, HTMLTableRowElement])[1]);
    this.body.prepend(fragment);
    if (fresh.length > 0) this.lastSeq = (fresh.at(-1) as LogEntry).seq;
    const oldestKept = entries.length > this.limit ? (entries[entries.length - this.limit] as LogEntry).seq : (entries[0]?.seq ?? 0);
    for (const [seq, row] of this.rows) {
      if (seq >= oldestKept && this.rows.size <= this.limit) break;
      row.remove();
      this.rows.delete(seq);
    }
    this.status.textContent = `${this.rows.size} shown${entries.length > 0 && (entries[0] as LogEntry).seq > 1 ? ` · older ones dropped (cap ${this.limit})` : ''}`;
  }

  setPaused(paused: boolean, newestSeq: number): void {
    this.paused = paused;
    this.pendingSince = newestSeq;
    if (paused) this.status.textContent = 'paused';
  }

  /** Forces a full redraw on the next update. */
  clear(): void {
    this.body.replaceChildren();
    this.rows.clear();
    this.renderedFor = null;
    this.lastSeq = 0;
  }

  private row(entry: LogEntry): HTMLTableRowElement {
    const payload = h('td', { class: 'payload' }, entry.payload);
    if (entry.payload !== '') payload.title = entry.payload;
    const state = h('td', { class: 'state' }, entry.state);
    state.title = entry.state;
    // A delayed event reads as its chart label (`after reconnectDelay`); the full type is the tooltip.
    const trigger = triggerOfEvent(entry.eventType);
    const event = h('td', { class: trigger === entry.eventType ? 'event' : 'event delayed' }, trigger);
    event.title = entry.eventType;
    return h(
      'tr',
      { 'data-seq': entry.seq },
      h('td', { class: 'time' }, clock(entry.at)),
      event,
      payload,
      state,
    );
  }
}
