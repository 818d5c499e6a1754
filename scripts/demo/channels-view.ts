/**
 * The demo's terminal display: the connection's status, then one block per channel (its status,
 * its data as a key/value table, and who is here for a channel with presence). On a TTY it redraws
 * one frame in place; elsewhere (a pipe, a CI log) it prints a line when the connection's state, a
 * channel's status or the members change, and a channel's data at most once per `modelEveryMs`.
 *
 * The frame and the lines are pure functions (`renderDemoFrame`, `createDemoPrinter`), tested
 * without a terminal (test/demo/channels-view.test.ts).
 */
import type { ChannelStatus } from '../../src/channel.js';
import type { PresenceData } from '../../src/presence.js';
import type { ConnectionStatus, StateName } from '../../src/types.js';
import { previewValue } from '../../src/views/preview.js';
import { countersLine, frameToAnsi, statusLine, truncate, type Style, type StyleFormat } from '../client/terminal-view.js';
import { channelStateText, membersText } from './summary.js';

/** One channel as the display shows it. */
export interface ChannelBlock {
  status: ChannelStatus;
  data: Readonly<Record<string, unknown>>;
  /** The members, for a channel opened with presence. */
  members?: PresenceData | undefined;
}

export interface DemoFrameInput {
  title: string;
  status: ConnectionStatus;
  channels: readonly ChannelBlock[];
  /** The clock `status.nextRetryAt` is on. */
  now: number;
  columns: number;
  rows: number;
  style?: Style;
}

const STATE_COLOURS: Record<StateName, StyleFormat> = { idle: 'gray', connecting: 'yellow', open: 'green', errored: 'red', closed: 'magenta' };
const plain: Style = (_format, text) => text;

function entriesOf(data: Readonly<Record<string, unknown>>): Array<[string, unknown]> {
  return Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const keysText = (count: number) => `${count} key${count === 1 ? '' : 's'}`;

/** `prices · live · 6 keys`, `notes · live · here: terminal, guest-0042`, `admin/audit · failed ERR_CHANNEL_FORBIDDEN: …`. */
export function channelHeading(block: ChannelBlock): string {
  const { status } = block;
  const parts = [status.channel, channelStateText(status)];
  if (status.state === 'failed' && status.lastError !== null) parts[1] = `${parts[1]}: ${status.lastError.message}`;
  else parts.push(keysText(Object.keys(block.data).length));
  if (block.members !== undefined) parts.push(`here: ${membersText(block.members)}`);
  return parts.join(' · ');
}

/**
 * The lines of one frame: title, connection status, counters, a rule, then each channel's heading
 * and as many of its keys as fit (the room is shared out evenly; a last line says how many did not).
 */
export function renderDemoFrame(input: DemoFrameInput): string[] {
  const style = input.style ?? plain;
  const width = Math.max(10, input.columns - 1);
  const height = Math.max(6, input.rows - 1);
  const lines: string[] = [];
  const fit = (text: string, format?: StyleFormat | StyleFormat[]) => {
    const cut = truncate(text, width);
    lines.push(format === undefined ? cut : style(format, cut));
  };
  fit(input.title, 'bold');
  const status = truncate(statusLine(input.status, input.now), width);
  const stateWord = `state ${input.status.state}`;
  lines.push(
    status.startsWith(stateWord)
      ? `state ${style(['bold', STATE_COLOURS[input.status.state]], input.status.state)}${status.slice(stateWord.length)}`
      : status,
  );
  fit(countersLine(input.status), 'dim');
  fit('─'.repeat(width), 'dim');

  const blocks = input.channels;
  const tables = blocks.filter((block) => block.status.state !== 'failed').length;
  const room = height - lines.length - blocks.length;
  const perTable = tables === 0 ? 0 : Math.max(1, Math.floor(room / tables));
  for (const block of blocks) {
    const failed = block.status.state === 'failed';
    fit(channelHeading(block), failed ? 'red' : block.status.live ? 'bold' : ['bold', 'yellow']);
    if (failed) continue;
    const entries = entriesOf(block.data);
    const shown = entries.length <= perTable ? entries.length : Math.max(0, perTable - 1);
    const keyWidth = Math.min(Math.max(3, ...entries.slice(0, shown).map(([key]) => key.length)), Math.max(3, Math.floor(width * 0.4)));
    for (const [key, value] of entries.slice(0, shown)) {
      const cell = truncate(key, keyWidth).padEnd(keyWidth);
      lines.push(`  ${style('cyan', cell)}  ${truncate(previewValue(value, { maxLength: 500 }), width - keyWidth - 4)}`);
    }
    if (shown < entries.length) fit(`  … ${entries.length - shown} more keys`, 'dim');
  }
  return lines.slice(0, height);
}

/** `  prices 6 keys: BTC-USD=63896.7 ETH-USD=3202.15 … +4`, cut to `width`. */
export function dataLine(name: string, data: Readonly<Record<string, unknown>>, width: number, maxKeys = 6): string {
  const entries = entriesOf(data);
  const shown = entries.slice(0, maxKeys).map(([key, value]) => `${key}=${previewValue(value, { maxLength: 60 })}`);
  const more = entries.length > maxKeys ? ` … +${entries.length - maxKeys}` : '';
  return truncate(`  ${name} ${keysText(entries.length)}: ${shown.join(' ')}${more}`, width);
}

export interface DemoPrinter {
  /** The lines this update adds in plain mode (none when nothing worth a line changed). */
  update(status: ConnectionStatus, channels: readonly ChannelBlock[], now: number): string[];
}

/** The plain-line mode (not a TTY), as a pure state holder: it returns lines and writes nothing. */
export function createDemoPrinter(options: { modelEveryMs?: number; width?: number } = {}): DemoPrinter {
  const modelEveryMs = options.modelEveryMs ?? 1000;
  const width = options.width ?? 120;
  let lastState: StateName | null = null;
  const headings = new Map<string, string>();
  const lastData = new Map<string, { data: unknown; at: number }>();
  return {
    update(status, channels, now) {
      const lines: string[] = [];
      if (status.state !== lastState) {
        lastState = status.state;
        lines.push(statusLine(status, now));
      }
      for (const block of channels) {
        const name = block.status.channel;
        // the heading without the key count: a line per status or members change, not per key
        const heading = channelHeading({ ...block, data: {} }).replace(` · ${keysText(0)}`, '');
        if (headings.get(name) !== heading) {
          headings.set(name, heading);
          lines.push(`channel ${heading}`);
        }
        const last = lastData.get(name);
        const changed = last === undefined ? Object.keys(block.data).length > 0 : last.data !== block.data && now - last.at >= modelEveryMs;
        if (block.status.state !== 'failed' && changed) {
          lastData.set(name, { data: block.data, at: now });
          lines.push(dataLine(name, block.data, width));
        }
      }
      return lines;
    },
  };
}

export interface DemoViewOptions {
  /** @default process.stdout.write */
  write?: (text: string) => void;
  /** Redraw in place (a TTY) or print plain lines. @default process.stdout.isTTY */
  tty?: boolean;
  /** @default process.stdout's columns and rows, else 80×24 */
  size?: () => { columns: number; rows: number };
  /** @default Date.now */
  now?: () => number;
  style?: Style;
  title: () => string;
}

export interface DemoView {
  /** Shows the connection and the channels as they are now. */
  update(status: ConnectionStatus, channels: readonly ChannelBlock[]): void;
  /** Shows the cursor again and ends the frame with a newline; later updates print nothing. */
  close(): void;
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const ERASE_SCREEN = '\x1b[2J';

export function demoView(options: DemoViewOptions): DemoView {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const tty = options.tty ?? process.stdout.isTTY === true;
  const size = options.size ?? (() => ({ columns: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 }));
  const now = options.now ?? Date.now;
  const printer = createDemoPrinter({ width: size().columns });
  let started = false;
  let closed = false;
  let last = '';
  return {
    update(status, channels) {
      if (closed) return;
      if (!tty) {
        for (const line of printer.update(status, channels, now())) write(`${line}\n`);
        return;
      }
      const input: DemoFrameInput = { title: options.title(), status, channels, now: now(), ...size() };
      if (options.style !== undefined) input.style = options.style;
      const frame = frameToAnsi(renderDemoFrame(input));
      if (frame === last) return;
      last = frame;
      write(started ? frame : `${HIDE_CURSOR}${ERASE_SCREEN}${frame}`);
      started = true;
    },
    close() {
      if (closed) return;
      closed = true;
      if (tty && started) write(`${SHOW_CURSOR}\n`);
    },
  };
}
