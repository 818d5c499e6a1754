/**
 * The work every client does with what it receives, the same for every
 * library: parse, apply to a `createStore()` model, and render a table of rows
 * at most once per 1000/60 ms frame. Only the connection layer differs between
 * libraries, so the difference in cost is the connection layer's.
 */
import { FRAME_MS } from '../src/scheduler.js';
import { createStore, type Store, type StoreData } from '../src/store.js';
import type { View } from '../src/types.js';
import type { Row } from './wire.js';
import { wallNow } from './lib/time.js';

/** The Node frame of statesocket's default scheduler (`frameScheduler()` → `timeoutScheduler()`): 1000/60 ms. */
export { FRAME_MS };

/** A view that does real work: it formats and sorts every row into text, as a table view would. */
export interface RowsView extends View<StoreData> {
  readonly renders: number;
  /** Wall-clock time of every render. */
  readonly renderTimes: number[];
  /** The data of the latest render. */
  readonly lastData: StoreData | null;
  /** Length of the latest rendered text (kept so the work cannot be optimized away). */
  readonly lastLength: number;
}

export function createRowsView(options: { keepTimes?: boolean } = {}): RowsView {
  let renders = 0;
  let lastData: StoreData | null = null;
  let lastLength = 0;
  const renderTimes: number[] = [];
  return {
    render(data) {
      const keys = Object.keys(data).sort();
      const lines: string[] = new Array<string>(keys.length);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const row = data[key] as unknown as Row;
        lines[i] = `${key.padEnd(8)} ${row.side.padEnd(4)} ${String(row.qty).padStart(5)} @ ${row.price.toFixed(2).padStart(10)} ${row.venue}`;
      }
      lastLength = lines.join('\n').length;
      lastData = data;
      renders++;
      if (options.keepTimes) renderTimes.push(wallNow());
    },
    get renders() {
      return renders;
    },
    renderTimes,
    get lastData() {
      return lastData;
    },
    get lastLength() {
      return lastLength;
    },
  };
}

/**
 * A store that counts what it applied: the hook the bench needs to know when
 * the last message landed.
 */
export interface CountingStore extends Store {
  onApplied: (() => void) | null;
  /** When true, updates are ignored: the data stays as it is (the end of a time-boxed measurement). */
  frozen: boolean;
}

export function createCountingStore(): CountingStore {
  const store = createStore();
  const counting: CountingStore = {
    onApplied: null,
    frozen: false,
    update(message) {
      if (counting.frozen) return;
      store.update(message);
      counting.onApplied?.();
    },
    getData: () => store.getData(),
    position: () => store.position(),
    get lastMessage() {
      return store.lastMessage;
    },
    get applied() {
      return store.applied;
    },
  };
  return counting;
}

/**
 * What a baseline client does per text frame: parse, apply, schedule a coalesced
 * render (a 1000/60 ms timer, the frame of statesocket's Node default). Returns the frame handler.
 */
export function baselineHandler(model: Store, view: View<StoreData> | undefined): (text: string) => void {
  let pending: NodeJS.Timeout | null = null;
  const flush = () => {
    pending = null;
    view!.render(model.getData(), undefined as never);
  };
  return (text) => {
    let message: unknown;
    try {
      message = JSON.parse(text);
      model.update(message);
    } catch {
      return; // malformed or out of order: dropped, as statesocket rejects it
    }
    if (view !== undefined && pending === null) pending = setTimeout(flush, FRAME_MS);
  };
}
