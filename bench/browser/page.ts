/**
 * What both pages of the browser scenario share (bench/scenarios/browser.ts): the entry the
 * scenario calls through the DevTools protocol, and the wait for the render of the final data.
 */
import type { StoreData } from '../../src/store.js';
import type { CountingStore, RowsView } from '../workload.js';

/** What a page reports once it applied the snapshot and `n` patches and rendered the result. */
export interface PageResult {
  patches: number;
  /** From the snapshot applied to the last patch applied. */
  ms: number;
  renders: number;
  /** The model's data at the end, for the scenario to check against `expectedRows(n)`. */
  data: StoreData;
  /** The last render showed the model's final data. */
  renderedFinal: boolean;
}

export type PageRun = (url: string, n: number) => Promise<PageResult>;

declare global {
  interface Window {
    benchRun?: PageRun;
  }
}

/**
 * Counts what `model` applies; resolves once the snapshot and `n` patches are applied and a
 * render showed the final data (checked once per animation frame), then calls `close`.
 */
export function measure(model: CountingStore, view: RowsView, n: number, close: () => void): Promise<PageResult> {
  return new Promise((resolve) => {
    let applied = 0;
    let firstAt = 0;
    model.onApplied = () => {
      applied++;
      if (applied === 1) firstAt = performance.now();
      if (applied !== n + 1) return;
      const ms = performance.now() - firstAt;
      const rendered = () => {
        if (view.lastData !== model.getData()) return void requestAnimationFrame(rendered);
        close();
        resolve({ patches: applied - 1, ms, renders: view.renders, data: model.getData(), renderedFinal: true });
      };
      requestAnimationFrame(rendered);
    };
  });
}

/** Installs the page's entry. */
export function expose(run: PageRun): void {
  window.benchRun = run;
}
