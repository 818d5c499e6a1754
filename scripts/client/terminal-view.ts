/**
 * `terminalView`: a View for a terminal. On a TTY it redraws one frame in
 * place (a status block, then the model as a key/value table cut to the
 * terminal's size); elsewhere (a pipe, a CI log) it prints plain lines: one
 * per state change and a compact model line at most once per `modelEveryMs`.
 *
 * The frame is built by pure functions (`renderFrame`, `renderAggregateFrame`,
 * `createLinePrinter`) so it can be tested without a terminal. The view owns
 * no timer: whoever shows a retry countdown calls `refresh()` on its own beat.
 * No `node:*` import: colours come in through the `style` option (pass
 * `util.styleText` from Node).
 */
import type { ConnectionStatus, StateName, View } from '../../src/types.js';
import { formatCountdown, previewValue } from '../../src/views/preview.js';

/** The formats the terminal view asks for (a subset of `util.styleText`'s). */
export type StyleFormat = 'bold' | 'dim' | 'cyan' | 'gray' | 'yellow' | 'green' | 'red' | 'magenta';

/** Colours text: `util.styleText`'s shape. The default adds nothing. */
export type Style = (format: StyleFormat | StyleFormat[], text: string) => string;

const plain: Style = (_format, text) => text;

// ANSI control sequences (ECMA-48): cursor home, erase to end of line, erase below, erase screen, cursor visibility.
const CURSOR_HOME = '\x1b[H';
const ERASE_LINE_END = '\x1b[K';
const ERASE_BELOW = '\x1b[J';
const ERASE_SCREEN = '\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

const STATE_COLOURS: Record<StateName, StyleFormat> = {
  idle: 'gray',
  connecting: 'yellow',
  open: 'green',
  errored: 'red',
  closed: 'magenta',
};

/** Characters of one value the views compute at most: wider than any terminal line. */
const SHOWN_CHARACTERS = 500;

/** Cuts `text` to `width` characters, marking the cut with `…`. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
}

function errorText(status: ConnectionStatus): string | null {
  if (status.lastError === null || status.state === 'open') return null;
  const close = status.lastError.closeCode !== undefined ? ` (close ${status.lastError.closeCode})` : '';
  return `${status.lastError.code}${close}`;
}

/** `state errored · attempt 2 · retry in 1.3 s · ERR_ABNORMAL_CLOSE (close 1006)`, unstyled. */
export function statusLine(status: ConnectionStatus, now: number): string {
  const parts = [`state ${status.state}`, `attempt ${status.attempt}`];
  if (status.nextRetryAt !== null) parts.push(`retry in ${formatCountdown(status.nextRetryAt - now)}`);
  const error = errorText(status);
  if (error !== null) parts.push(error);
  return parts.join(' · ');
}

/** `received 120 · rejected 0 · sent 3 · renders 40 · reconnects 1 · outbox 0` (and `dropped N` once any were). */
export function countersLine(status: ConnectionStatus): string {
  const { received, rejected, sent, renders, reconnects, dropped } = status.counters;
  return (
    `received ${received} · rejected ${rejected} · sent ${sent} · renders ${renders} · ` +
    `reconnects ${reconnects} · outbox ${status.outboxSize}${dropped > 0 ? ` · dropped ${dropped}` : ''}`
  );
}

/** A value as text, bounded in depth and length (the line is cut to the terminal's width anyway). */
function showValue(value: unknown): string {
  return previewValue(value, { maxLength: SHOWN_CHARACTERS });
}

function entriesOf(data: unknown): Array<[string, unknown]> | null {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
  return Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface FrameInput {
  /** The model's data: an object is shown as a table, anything else as one value. */
  data: unknown;
  status: ConnectionStatus;
  /** The clock `status.nextRetryAt` is on. */
  now: number;
  /** Terminal width in characters; every line is cut to `columns - 1` so none wraps. */
  columns: number;
  /** Terminal height in lines; the frame is at most `rows - 1` lines so it never scrolls. */
  rows: number;
  /** The latest message that is not part of the model (a raw server), shown under the table. */
  lastMessage?: unknown;
  /** Shown at the top, e.g. the URL. */
  title?: string;
  style?: Style;
}

/**
 * The lines of one frame: title, status, counters, a rule, then the model as
 * a sorted key/value table cut to fit; a last line says how many keys did not.
 */
export function renderFrame(input: FrameInput): string[] {
  const style = input.style ?? plain;
  const width = Math.max(10, input.columns - 1);
  const height = Math.max(4, input.rows - 1);
  const lines: string[] = [];
  const fit = (text: string, format?: StyleFormat | StyleFormat[]) => {
    const cut = truncate(text, width);
    lines.push(format === undefined ? cut : style(format, cut));
  };

  if (input.title !== undefined) fit(input.title, 'bold');
  const status = truncate(statusLine(input.status, input.now), width);
  const stateWord = `state ${input.status.state}`;
  // Colour only the state word; the rest of the line stays plain.
  lines.push(
    status.startsWith(stateWord)
      ? `state ${style(['bold', STATE_COLOURS[input.status.state]], input.status.state)}${status.slice(stateWord.length)}`
      : status,
  );
  fit(countersLine(input.status), 'dim');
  fit('─'.repeat(width), 'dim');

  const footer = input.lastMessage === undefined ? null : truncate(`last message ${showValue(input.lastMessage)}`, width);
  const room = height - lines.length - (footer === null ? 0 : 1);
  const entries = entriesOf(input.data);
  if (entries === null) {
    fit(`model ${showValue(input.data)}`);
  } else if (entries.length === 0) {
    fit('(empty model)', 'dim');
  } else {
    const shown = entries.length <= room ? entries.length : Math.max(0, room - 1);
    const keyWidth = Math.min(
      Math.max(...entries.slice(0, shown).map(([key]) => key.length), 3),
      Math.max(3, Math.floor(width * 0.4)),
    );
    for (const [key, value] of entries.slice(0, shown)) {
      const cell = truncate(key, keyWidth).padEnd(keyWidth);
      lines.push(`${style('cyan', cell)}  ${truncate(showValue(value), width - keyWidth - 2)}`);
    }
    if (shown < entries.length) fit(`… ${entries.length - shown} more keys (${entries.length} in all)`, 'dim');
  }
  if (footer !== null) lines.push(footer);
  return lines;
}

/** One frame as a single string: home, each line erased to its end, everything below erased. No flicker. */
export function frameToAnsi(lines: readonly string[]): string {
  return `${CURSOR_HOME}${lines.map((line) => `${line}${ERASE_LINE_END}`).join('\n')}\n${ERASE_BELOW}`;
}

/** `model 5 keys: a=1 b=2 c=3 … +2 · received 10`, cut to `width`. */
export function modelLine(data: unknown, status: ConnectionStatus, width: number, maxKeys = 6): string {
  const entries = entriesOf(data);
  let summary: string;
  if (entries === null) summary = showValue(data);
  else if (entries.length === 0) summary = 'empty';
  else {
    const shown = entries.slice(0, maxKeys).map(([key, value]) => `${key}=${showValue(value)}`);
    const more = entries.length > maxKeys ? ` … +${entries.length - maxKeys}` : '';
    summary = `${entries.length} key${entries.length === 1 ? '' : 's'}: ${shown.join(' ')}${more}`;
  }
  const tail = ` · received ${status.counters.received}`;
  return `  model ${truncate(summary, Math.max(10, width - tail.length - 8))}${tail}`;
}

export interface LinePrinter {
  /** Lines for a status change: one when the state changed, none otherwise. */
  status(status: ConnectionStatus, now: number): string[];
  /** Lines for a render: the state line if it changed, and a model line if the data changed and `modelEveryMs` passed. */
  render(data: unknown, status: ConnectionStatus, now: number): string[];
}

/** The plain-line mode (not a TTY), as a pure state holder: it returns lines and writes nothing. */
export function createLinePrinter(options: { modelEveryMs?: number; width?: number } = {}): LinePrinter {
  const modelEveryMs = options.modelEveryMs ?? 1000;
  const width = options.width ?? 120;
  let lastState: StateName | null = null;
  let lastData: unknown;
  let lastModelAt = -Infinity;
  const status = (next: ConnectionStatus, now: number): string[] => {
    if (next.state === lastState) return [];
    lastState = next.state;
    return [statusLine(next, now)];
  };
  return {
    status,
    render(data, next, now) {
      const lines = status(next, now);
      if (data !== lastData && now - lastModelAt >= modelEveryMs) {
        lastData = data;
        lastModelAt = now;
        lines.push(modelLine(data, next, width));
      }
      return lines;
    },
  };
}

// ── the view ────────────────────────────────────────────────────────────────

export interface TerminalViewOptions {
  /**
   * Where output goes (frames contain no trailing newline handling of their own).
   * @default process.stdout.write
   */
  write?: (text: string) => void;
  /**
   * Redraw in place (a TTY) or print plain lines.
   * @default process.stdout.isTTY
   */
  tty?: boolean;
  /**
   * The terminal's size, read at every frame.
   * @default process.stdout's columns and rows, else 80×24
   */
  size?: () => { columns: number; rows: number };
  /**
   * Clock for the countdown and `modelEveryMs`; must match the connection's `now`.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Least time between two model lines in plain mode, in milliseconds.
   * @default 1000
   */
  modelEveryMs?: number;
  /** Colours (TTY only), e.g. Node's `util.styleText`. @default none */
  style?: Style;
  /** First line of the frame, e.g. the URL; a function is read at every frame. */
  title?: string | (() => string);
  /** The latest message outside the model, shown under the table (a raw server's messages). */
  lastMessage?: () => unknown;
}

export interface TerminalView<T = unknown> extends View<T> {
  /**
   * Shows a status change without new data (TTY: redraws if the frame
   * changed; plain: prints a line if the state changed). Without an argument
   * it redraws the last status, for a countdown.
   */
  refresh(status?: ConnectionStatus): void;
  /** Shows the cursor again and ends the frame with a newline; later calls print nothing. */
  close(): void;
}

interface StdoutLike {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

function stdout(): StdoutLike | undefined {
  return (globalThis as { process?: { stdout?: StdoutLike } }).process?.stdout;
}

function defaults(options: TerminalViewOptions) {
  const out = stdout();
  return {
    write: options.write ?? ((text: string) => void (out ? out.write(text) : console.log(text))),
    tty: options.tty ?? out?.isTTY === true,
    size: options.size ?? (() => ({ columns: out?.columns ?? 80, rows: out?.rows ?? 24 })),
    now: options.now ?? Date.now,
  };
}

/** Draws frames in place on a TTY: the screen is cleared once, then only overwritten. */
function createScreen(write: (text: string) => void) {
  let started = false;
  let closed = false;
  let last = '';
  return {
    draw(lines: readonly string[]) {
      if (closed) return;
      const frame = frameToAnsi(lines);
      if (frame === last) return;
      last = frame;
      write(started ? frame : `${HIDE_CURSOR}${ERASE_SCREEN}${frame}`);
      started = true;
    },
    close() {
      if (closed) return;
      closed = true;
      if (started) write(SHOW_CURSOR);
    },
  };
}

/**
 * A terminal View for one connection.
 *
 * @example
 * ```ts
 * import { styleText } from 'node:util';
 * const view = terminalView({ style: styleText, title: url });
 * const connection = createConnection({ url, view });
 * connection.subscribe((status) => view.refresh(status));
 * ```
 */
export function terminalView<T = unknown>(options: TerminalViewOptions = {}): TerminalView<T> {
  const { write, tty, size, now } = defaults(options);
  const screen = createScreen(write);
  const printer = createLinePrinter({ modelEveryMs: options.modelEveryMs ?? 1000, width: size().columns });
  let data: unknown;
  let status: ConnectionStatus | null = null;
  let closed = false;

  const draw = () => {
    if (status === null) return;
    const { columns, rows } = size();
    const input: FrameInput = { data, status, now: now(), columns, rows };
    const title = typeof options.title === 'function' ? options.title() : options.title;
    if (title !== undefined) input.title = title;
    if (options.style !== undefined) input.style = options.style;
    const lastMessage = options.lastMessage?.();
    if (lastMessage !== undefined) input.lastMessage = lastMessage;
    screen.draw(renderFrame(input));
  };
  const print = (lines: string[]) => {
    for (const line of lines) write(`${line}\n`);
  };

  return {
    render(next, nextStatus) {
      if (closed) return;
      data = next;
      status = nextStatus;
      if (tty) draw();
      else print(printer.render(next, nextStatus, now()));
    },
    refresh(nextStatus) {
      if (closed) return;
      if (nextStatus !== undefined) status = nextStatus;
      if (tty) draw();
      else if (nextStatus !== undefined) print(printer.status(nextStatus, now()));
    },
    close() {
      if (closed) return;
      closed = true;
      if (tty) {
        screen.close();
        write('\n');
      }
    },
  };
}

// ── many connections ────────────────────────────────────────────────────────

export interface Aggregate {
  connections: number;
  byState: Record<StateName, number>;
  received: number;
  rejected: number;
  sent: number;
  renders: number;
  reconnects: number;
  dropped: number;
}

/** Sums the statuses of many connections. */
export function aggregate(statuses: readonly ConnectionStatus[]): Aggregate {
  const result: Aggregate = {
    connections: statuses.length,
    byState: { idle: 0, connecting: 0, open: 0, errored: 0, closed: 0 },
    received: 0,
    rejected: 0,
    sent: 0,
    renders: 0,
    reconnects: 0,
    dropped: 0,
  };
  for (const status of statuses) {
    result.byState[status.state]++;
    result.received += status.counters.received;
    result.rejected += status.counters.rejected;
    result.sent += status.counters.sent;
    result.renders += status.counters.renders;
    result.reconnects += status.counters.reconnects;
    result.dropped += status.counters.dropped;
  }
  return result;
}

/** `connections 50 · open 48 · connecting 1 · errored 1 · closed 0 · idle 0`. */
export function byStateLine(value: Aggregate): string {
  const { byState } = value;
  return (
    `connections ${value.connections} · open ${byState.open} · connecting ${byState.connecting} · ` +
    `errored ${byState.errored} · closed ${byState.closed} · idle ${byState.idle}`
  );
}

/** The lines of an aggregate frame: title, counts by state, summed counters. */
export function renderAggregateFrame(input: { aggregate: Aggregate; columns: number; title?: string; style?: Style }): string[] {
  const style = input.style ?? plain;
  const width = Math.max(10, input.columns - 1);
  const { received, rejected, sent, reconnects, dropped } = input.aggregate;
  const lines: string[] = [];
  if (input.title !== undefined) lines.push(style('bold', truncate(input.title, width)));
  lines.push(truncate(byStateLine(input.aggregate), width));
  lines.push(
    style('dim', truncate(`received ${received} · rejected ${rejected} · sent ${sent} · reconnects ${reconnects} · dropped ${dropped}`, width)),
  );
  return lines;
}

export interface AggregateTerminal {
  /** Shows the statuses: TTY redraws; plain mode prints a line when the counts by state changed. */
  update(statuses: readonly ConnectionStatus[]): void;
  close(): void;
}

/** A terminal display of many connections: counts by state instead of a model. */
export function aggregateTerminal(options: Omit<TerminalViewOptions, 'modelEveryMs' | 'lastMessage'> = {}): AggregateTerminal {
  const { write, tty, size } = defaults(options);
  const screen = createScreen(write);
  let lastLine = '';
  let closed = false;
  return {
    update(statuses) {
      if (closed) return;
      const value = aggregate(statuses);
      if (tty) {
        const input: Parameters<typeof renderAggregateFrame>[0] = { aggregate: value, columns: size().columns };
        const title = typeof options.title === 'function' ? options.title() : options.title;
        if (title !== undefined) input.title = title;
        if (options.style !== undefined) input.style = options.style;
        screen.draw(renderAggregateFrame(input));
        return;
      }
      const line = byStateLine(value);
      if (line === lastLine) return;
      lastLine = line;
      write(`${line} · received ${value.received} · reconnects ${value.reconnects}\n`);
    },
    close() {
      if (closed) return;
      closed = true;
      if (tty) {
        screen.close();
        write('\n');
      }
    },
  };
}
