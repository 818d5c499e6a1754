/**
 * `consoleView`: a View for Node that prints one line per state change and a
 * summary of the data at most once per `dataEveryMs`.
 */
import type { ConnectionStatus, View } from '../types.js';
import { previewValue, resolvePreviewLimits, unreadableMarker, type PreviewLimits } from './preview.js';

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
   * How much of each value a data line shows: levels and characters (see
   * `previewValue`; `maxDepth` a whole number from 0, `maxLength` from 1 to
   * 1,000,000, checked here with a RangeError naming the limit).
   * @default { maxDepth: 8, maxLength: 200 }
   */
  preview?: PreviewLimits;
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

function summarize(data: unknown, maxKeys: number, limits: PreviewLimits): string {
  if (data === null || typeof data !== 'object') return previewValue(data, limits);
  let keys: string[];
  try {
    keys = Object.keys(data);
  } catch {
    // a Proxy that cannot list its keys: previewValue shows why
    return previewValue(data, limits);
  }
  const record = data as Record<string, unknown>;
  const entry = (key: string): string => {
    let value: unknown;
    try {
      value = record[key];
    } catch (error) {
      return unreadableMarker(error);
    }
    return previewValue(value, limits);
  };
  const shown = keys.slice(0, maxKeys).map((key) => `${key}=${entry(key)}`);
  const more = keys.length > maxKeys ? ` … +${keys.length - maxKeys}` : '';
  if (keys.length === 0) return 'empty';
  return `${keys.length} keys: ${shown.join(' ')}${more}`;
}

export function consoleView<T = unknown>(options: ConsoleViewOptions = {}): View<T> {
  const write = options.write ?? ((line: string) => console.log(line));
  const dataEveryMs = options.dataEveryMs ?? 1000;
  const maxKeys = options.maxKeys ?? 6;
  const now = options.now ?? Date.now;
  const limits = resolvePreviewLimits(options.preview ?? {}, 'preview');
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
        write(`  model ${summarize(data, maxKeys, limits)} · received ${status.counters.received}, renders ${status.counters.renders}`);
      }
    },
  };
}
