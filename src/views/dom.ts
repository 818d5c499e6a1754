/**
 * `domView`: a View for the browser. It keeps one row element per key and, on
 * every render, touches only what changed: a cell whose text differs gets its
 * text node's `data` replaced, a new key gets a new row, a gone key loses its
 * row, and a row that moved is moved (the element, with its focus and
 * selection, is kept). Status fields are text nodes too.
 *
 * Data never reaches the DOM as markup: values are written with
 * `createTextNode` / `Text.data` and keys with `setAttribute`, never with
 * `innerHTML`, so `<img src=x onerror=alert(1)>` in the data is shown as those
 * characters and runs nothing.
 *
 * The view owns no timer and no scheduler: the connection calls `render` at
 * most once per frame (its `schedule` option); whoever shows a ticking
 * countdown asks for another render on its own beat.
 */
import type { Json, StoreData } from '../store.js';
import type { ConnectionStatus, View } from '../types.js';
import { previewValue } from './preview.js';

/**
 * The element type of the platform: the DOM's `Element` where the DOM library
 * is loaded (browsers, and any project with "DOM" in `lib`), else the few
 * members this view uses. So the package's declarations never need the DOM
 * library, and DOM users still get `Element` back from `rowElement`.
 */
export type DomElement = typeof globalThis extends { Element: { prototype: infer E } } ? E : DomElementLike;

/** What the view uses of a DOM element, for projects compiled without the DOM library (a DOM `Element` has all of it). */
export interface DomElementLike {
  readonly ownerDocument: { createElement(tag: string): DomElementLike; createTextNode(text: string): { data: string } };
  readonly firstChild: unknown;
  readonly parentNode: unknown;
  readonly nextSibling: unknown;
  appendChild(node: never): unknown;
  insertBefore(node: never, before: never): unknown;
  removeChild(node: never): unknown;
  setAttribute(name: string, value: string): void;
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  removeAttribute(name: string): void;
}

/** One row as the view should show it. */
export interface DomRow {
  /** Identifies the row across renders; set as its `data-key` attribute. */
  key: string;
  /** The text of each cell, in column order. */
  cells: readonly string[];
  /** Set as the row's `data-state` attribute (for styling, e.g. `pending`); removed when undefined. */
  state?: string | undefined;
}

/** A button added to every row: `<button type="button" data-action="{action}">{label}</button>`. */
export interface DomRowAction {
  action: string;
  label: string;
}

/** An element whose text follows the status (a state name, a countdown, a counter). */
export interface DomStatusField {
  element: DomElement;
  text: (status: ConnectionStatus, now: number) => string;
}

export interface DomViewOptions<T> {
  /** The element that holds one child per row, usually a `<tbody>`. The view owns its children. */
  rows: DomElement;
  /**
   * The rows to show, in order, for the data and status of a render. Keys must be unique.
   * @default storeRows: one row per key of a `createStore()` document, sorted by key, cells [key, value]
   */
  toRows?: (data: T, status: ConnectionStatus) => Iterable<DomRow>;
  /**
   * Buttons appended to every row, in a last cell; handle their clicks on `rows`
   * (event delegation: `closest('[data-action]')` and the row's `data-key`).
   * @default none
   */
  rowActions?: readonly DomRowAction[];
  /**
   * Tag of a row element.
   * @default 'tr'
   */
  rowTag?: string;
  /**
   * Tag of a cell element.
   * @default 'td'
   */
  cellTag?: string;
  /**
   * An element that gets `data-state` (the reported state) and `data-online` (`true`/`false`) attributes.
   * @default none
   */
  badge?: DomElement;
  /**
   * Elements whose text follows the status; each element's children are replaced by one text node.
   * @default none
   */
  fields?: readonly DomStatusField[];
  /**
   * Current time in milliseconds, passed to the fields (the connection's `now()` clock: `nextRetryAt` is on it).
   * @default Date.now
   */
  now?: () => number;
}

export interface DomView<T> extends View<T> {
  /** Calls to `render` so far. */
  readonly renders: number;
  /** The element showing the row with this key, if there is one. */
  rowElement(key: string): DomElement | undefined;
}

/** Characters of one cell at most: a huge or deeply nested value cannot stall or break a render. */
const CELL_CHARACTERS = 1_000;

/** A value as cell text: strings as they are, anything else as JSON; cut at 1,000 characters and 8 levels. */
export function formatValue(value: Json | undefined): string {
  if (typeof value === 'string') return value.length > CELL_CHARACTERS ? `${value.slice(0, CELL_CHARACTERS - 1)}…` : value;
  if (value === undefined) return '';
  return previewValue(value, { maxLength: CELL_CHARACTERS });
}

/** Sorts keys by UTF-16 code units: the same order in every browser and in Node. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The default rows: one per key of the store's document, sorted by key; cells are the key and the value. */
export function storeRows(data: StoreData): DomRow[] {
  return Object.keys(data)
    .sort(compareKeys)
    .map((key) => ({ key, cells: [key, formatValue(data[key])] }));
}

interface RowRecord {
  element: Element;
  /** One text node per data cell. */
  texts: Text[];
  state: string | undefined;
}

interface FieldRecord {
  text: Text | null;
}

function setAttributeIfChanged(element: Element, name: string, value: string | undefined): void {
  if (value === undefined) {
    if (element.hasAttribute(name)) element.removeAttribute(name);
  } else if (element.getAttribute(name) !== value) {
    element.setAttribute(name, value);
  }
}

function replaceChildrenWith(element: Element, node: Node): void {
  while (element.firstChild !== null) element.removeChild(element.firstChild);
  element.appendChild(node);
}

/**
 * Creates a DOM View.
 *
 * @example
 * ```ts
 * const view = domView({
 *   rows: document.querySelector('tbody')!,
 *   badge: document.querySelector('#status')!,
 *   fields: [{ element: document.querySelector('#state')!, text: (status) => status.state }],
 * });
 * const connection = createConnection({ url, protocol: createSyncProtocol(), view });
 * ```
 * @throws TypeError when `options.rows` is not an element
 * @throws RangeError from `render` when `toRows` returns the same key twice
 */
export function domView<T = StoreData>(options: DomViewOptions<T>): DomView<T> {
  const rowsOption = (options as Partial<DomViewOptions<T>> | null | undefined)?.rows as { ownerDocument?: unknown } | null | undefined;
  if (typeof rowsOption?.ownerDocument !== 'object' || rowsOption.ownerDocument === null) {
    throw new TypeError(
      `domView needs { rows }: the element that holds one child per row, such as document.querySelector('tbody'); received ${
        options === undefined || options === null ? String(options) : `rows: ${rowsOption === null ? 'null' : typeof rowsOption}`
      }`,
    );
  }
  // Compiled with the DOM library, DomElement is Element here.
  const { rows: container, rowActions = [], badge, fields = [] } = options;
  const toRows = options.toRows ?? (storeRows as unknown as (data: T, status: ConnectionStatus) => Iterable<DomRow>);
  const rowTag = options.rowTag ?? 'tr';
  const cellTag = options.cellTag ?? 'td';
  const now = options.now ?? Date.now;
  const document = container.ownerDocument;
  const records = new Map<string, RowRecord>();
  const fieldRecords: FieldRecord[] = fields.map(() => ({ text: null }));
  let renders = 0;

  function createRow(row: DomRow): RowRecord {
    const element = document.createElement(rowTag);
    element.setAttribute('data-key', row.key);
    const texts = row.cells.map((cell) => {
      const td = document.createElement(cellTag);
      const text = document.createTextNode(cell);
      td.appendChild(text);
      element.appendChild(td);
      return text;
    });
    if (rowActions.length > 0) {
      const td = document.createElement(cellTag);
      td.setAttribute('class', 'actions');
      for (const { action, label } of rowActions) {
        const button = document.createElement('button');
        button.setAttribute('type', 'button');
        button.setAttribute('data-action', action);
        button.appendChild(document.createTextNode(label));
        td.appendChild(button);
      }
      element.appendChild(td);
    }
    return { element, texts, state: undefined };
  }

  function updateCells(record: RowRecord, row: DomRow): void {
    row.cells.forEach((cell, index) => {
      const text = record.texts[index] as Text;
      if (text.data !== cell) text.data = cell;
    });
  }

  function renderRows(data: T, status: ConnectionStatus): void {
    if (renders === 1) {
      // the view owns the container: placeholder children from the page go on the first render
      while (container.firstChild !== null) container.removeChild(container.firstChild);
    }
    const wanted = [...toRows(data, status)];
    const keys = new Set<string>();
    for (const row of wanted) {
      if (keys.has(row.key)) throw new RangeError(`domView: toRows returned the key ${JSON.stringify(row.key)} twice; keys must be unique`);
      keys.add(row.key);
    }
    // gone rows first, so that they do not count as out of place below
    for (const [key, record] of records) {
      if (keys.has(key)) continue;
      records.delete(key);
      if (record.element.parentNode === container) container.removeChild(record.element);
    }
    // the node the next row must sit before: walking the wanted order moves only rows out of place
    let cursor: Node | null = container.firstChild;
    for (const row of wanted) {
      let record = records.get(row.key);
      if (record !== undefined && record.texts.length !== row.cells.length) {
        // another number of columns is another row shape: the row is built again
        if (record.element === cursor) cursor = cursor.nextSibling;
        if (record.element.parentNode === container) container.removeChild(record.element);
        record = undefined;
      }
      if (record === undefined) {
        record = createRow(row);
      } else {
        updateCells(record, row);
      }
      records.set(row.key, record);
      if (record.state !== row.state) {
        setAttributeIfChanged(record.element, 'data-state', row.state);
        record.state = row.state;
      }
      if (record.element === cursor) {
        cursor = cursor.nextSibling;
      } else {
        container.insertBefore(record.element, cursor);
      }
    }
  }

  function renderStatus(status: ConnectionStatus): void {
    if (badge !== undefined) {
      setAttributeIfChanged(badge, 'data-state', status.state);
      setAttributeIfChanged(badge, 'data-online', String(status.online));
    }
    if (fields.length === 0) return;
    const at = now();
    fields.forEach((field, index) => {
      const record = fieldRecords[index] as FieldRecord;
      const value = field.text(status, at);
      if (record.text === null) {
        record.text = document.createTextNode(value);
        replaceChildrenWith(field.element, record.text);
      } else if (record.text.data !== value) {
        record.text.data = value;
      }
    });
  }

  return {
    render(data, status) {
      renders++;
      renderRows(data, status);
      renderStatus(status);
    },
    get renders() {
      return renders;
    },
    rowElement: (key) => records.get(key)?.element,
  };
}
