/**
 * `consoleView`: a View for Node that prints one line per state change and a
 * summary of the data at most once per `dataEveryMs`.
 */
import type { ConnectionStatus, View } from '../types.js';

export interface ConsoleViewOptions {
  /**
   * Where lines go.
   * @default console.log
   */
  write?: (line: string) => void;
  /**
   * Least time between two data lines, in milliseconds (state changes always print).
   * @default 1000
   */
  dataEveryMs?: number;
  /**
   * Keys shown in a data line.
   * @default 6
   */
  maxKeys?: number;
  /**
   * Clock for `dataEveryMs`.
   * @default Date.now
   */
  now?: () => number;
}

function describeState(status: ConnectionStatus, now: number): string {
  const parts = [`state ${status.state}`];
  if (status.attempt > 0) parts.push(`attempt ${status.attempt}`);
  if (status.nextRetryAt !== null) parts.push(`retry in ${Math.max(0, Math.round(status.nextRetryAt - now))} ms`);
  if (status.lastError && status.state !== 'open') {
    const close = status.lastError.closeCode !== undefined ? ` (close ${status.lastError.closeCode})` : '';
    parts.push(`${status.lastError.code}${close}`);
  }
  return parts.join(' · ');
}

function summarize(data: unknown, maxKeys: number): string {
  if (data === null || typeof data !== 'object') return JSON.stringify(data) ?? String(data);
  const entries = Object.entries(data);
  const shown = entries.slice(0, maxKeys).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  const more = entries.length > maxKeys ? ` … +${entries.length - maxKeys}` : '';
  if (entries.length === 0) return 'empty';
  return `${entries.length} keys: ${shown.join(' ')}${more}`;
}

export function consoleView<T = unknown>(options: ConsoleViewOptions = {}): View<T> {
  const write = options.write ?? ((line: string) => console.log(line));
  const dataEveryMs = options.dataEveryMs ?? 1000;
  const maxKeys = options.maxKeys ?? 6;
  const now = options.now ?? Date.now;
  let lastState: string | null = null;
  let lastData: unknown;
  let lastDataAt = -Infinity;

  return {
    render(data, status) {
      const at = now();
      if (status.state !== lastState) {
        lastState = status.state;
        write(describeState(status, at));
      }
      if (data !== lastData && at - lastDataAt >= dataEveryMs) {
        lastData = data;
        lastDataAt = at;
        write(`  model ${summarize(data, maxKeys)} · received ${status.counters.received}, renders ${status.counters.renders}`);
      }
    },
  };
}
