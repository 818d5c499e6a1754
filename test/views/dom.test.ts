/**
 * domView against a minimal fake document that logs every mutation, so a test
 * can say exactly what a render touched. The fake has no `innerHTML`: using it
 * throws. The same view runs in real Chromium in test/browser/app.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { StoreData } from '../../src/store.js';
import type { ConnectionStatus } from '../../src/types.js';
import { domView, formatValue, storeRows, type DomRow } from '../../src/views/dom.js';
import { makeStatus } from '../support/status.js';

type Mutation =
  | { op: 'create'; tag: string }
  | { op: 'insert'; node: string; before: string | null }
  | { op: 'remove'; node: string }
  | { op: 'attr'; node: string; name: string; value: string | null }
  | { op: 'text'; from: string; to: string };

class FakeNode {
  parentNode: FakeElement | null = null;
  constructor(readonly ownerDocument: FakeDocument) {}
  get nextSibling(): FakeNode | null {
    const siblings = this.parentNode?.childNodes ?? [];
    return siblings[siblings.indexOf(this) + 1] ?? null;
  }
  get textContent(): string {
    return '';
  }
  describe(): string {
    return '#node';
  }
}

class FakeText extends FakeNode {
  #data: string;
  constructor(document: FakeDocument, data: string) {
    super(document);
    this.#data = data;
  }
  get data(): string {
    return this.#data;
  }
  set data(value: string) {
    this.ownerDocument.log.push({ op: 'text', from: this.#data, to: value });
    this.#data = value;
  }
  override get textContent(): string {
    return this.#data;
  }
  override describe(): string {
    return `"${this.#data}"`;
  }
}

class FakeElement extends FakeNode {
  readonly childNodes: FakeNode[] = [];
  readonly attributes = new Map<string, string>();
  constructor(
    document: FakeDocument,
    readonly tagName: string,
  ) {
    super(document);
  }
  get firstChild(): FakeNode | null {
    return this.childNodes[0] ?? null;
  }
  get children(): FakeElement[] {
    return this.childNodes.filter((node): node is FakeElement => node instanceof FakeElement);
  }
  override get textContent(): string {
    return this.childNodes.map((node) => node.textContent).join('');
  }
  get innerHTML(): string {
    throw new Error('innerHTML used');
  }
  set innerHTML(_value: string) {
    throw new Error('innerHTML used');
  }
  override describe(): string {
    const key = this.attributes.get('data-key');
    return key === undefined ? this.tagName : `${this.tagName}[${key}]`;
  }
  appendChild(node: FakeNode): FakeNode {
    return this.insertBefore(node, null);
  }
  insertBefore(node: FakeNode, before: FakeNode | null): FakeNode {
    if (before !== null && before.parentNode !== this) throw new Error('insertBefore: reference is not a child');
    if (node.parentNode !== null) node.parentNode.detach(node);
    const index = before === null ? this.childNodes.length : this.childNodes.indexOf(before);
    this.childNodes.splice(index, 0, node);
    node.parentNode = this;
    this.ownerDocument.log.push({ op: 'insert', node: node.describe(), before: before?.describe() ?? null });
    return node;
  }
  removeChild(node: FakeNode): FakeNode {
    if (node.parentNode !== this) throw new Error('removeChild: not a child');
    this.detach(node);
    this.ownerDocument.log.push({ op: 'remove', node: node.describe() });
    return node;
  }
  detach(node: FakeNode): void {
    this.childNodes.splice(this.childNodes.indexOf(node), 1);
    node.parentNode = null;
  }
  setAttribute(name: string, value: string): void {
    this.attributes.set(name, String(value));
    this.ownerDocument.log.push({ op: 'attr', node: this.describe(), name, value: String(value) });
  }
  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }
  hasAttribute(name: string): boolean {
    return this.attributes.has(name);
  }
  removeAttribute(name: string): void {
    this.attributes.delete(name);
    this.ownerDocument.log.push({ op: 'attr', node: this.describe(), name, value: null });
  }
}

class FakeDocument {
  log: Mutation[] = [];
  createElement(tag: string): FakeElement {
    this.log.push({ op: 'create', tag });
    return new FakeElement(this, tag);
  }
  createTextNode(data: string): FakeText {
    return new FakeText(this, data);
  }
  /** The mutations since the last call. */
  take(): Mutation[] {
    return this.log.splice(0);
  }
}

function setup() {
  const document = new FakeDocument();
  const tbody = document.createElement('tbody');
  document.take();
  return { document, tbody, rows: tbody as unknown as Element };
}

function status(overrides: Partial<ConnectionStatus> = {}): ConnectionStatus {
  return makeStatus({ url: 'ws://127.0.0.1:8080/', ...overrides });
}

/** The table as [key, ...cell texts] per row, in order. */
function table(tbody: FakeElement): string[][] {
  return tbody.children.map((tr) => [tr.getAttribute('data-key') ?? '?', ...tr.children.map((td) => td.textContent)]);
}

describe('domView', () => {
  describe('rows', () => {
    it('renders one row per key, sorted by key, with the key and the value as text', () => {
      const { tbody, rows } = setup();
      const view = domView({ rows });
      view.render({ b: 2, a: 'one', c: { nested: [1, true] } }, status());
      expect(table(tbody)).toEqual([
        ['a', 'a', 'one'],
        ['b', 'b', '2'],
        ['c', 'c', '{"nested":[1,true]}'],
      ]);
      expect(view.renders).toBe(1);
    });

    it('writes only the text of the cells that changed', () => {
      const { document, tbody, rows } = setup();
      const view = domView({ rows });
      view.render({ a: 1, b: 2, c: 3 }, status());
      document.take();
      const before = [...tbody.childNodes];

      view.render({ a: 1, b: 20, c: 3 }, status());

      expect(document.take()).toEqual([{ op: 'text', from: '2', to: '20' }]);
      expect(tbody.childNodes).toEqual(before);
    });

    it('touches nothing when nothing changed', () => {
      const { document, rows } = setup();
      const view = domView({ rows });
      const data = { a: 1, b: 'x' };
      view.render(data, status());
      document.take();
      view.render({ ...data }, status());
      expect(document.take()).toEqual([]);
    });

    it('keeps the element of every key and inserts a new key in its place', () => {
      const { document, tbody, rows } = setup();
      const view = domView({ rows });
      view.render({ a: 1, c: 3 }, status());
      const a = view.rowElement('a');
      const c = view.rowElement('c');
      document.take();

      view.render({ a: 1, b: 2, c: 3 }, status());

      expect(table(tbody).map(([key]) => key)).toEqual(['a', 'b', 'c']);
      expect(view.rowElement('a')).toBe(a);
      expect(view.rowElement('c')).toBe(c);
      expect(document.take().filter((m) => m.op === 'insert' && m.node.startsWith('tr'))).toEqual([
        { op: 'insert', node: 'tr[b]', before: 'tr[c]' },
      ]);
    });

    it('removes the rows of deleted keys and nothing else', () => {
      const { document, tbody, rows } = setup();
      const view = domView({ rows });
      view.render({ a: 1, b: 2, c: 3 }, status());
      document.take();

      view.render({ a: 1, c: 3 }, status());

      expect(table(tbody).map(([key]) => key)).toEqual(['a', 'c']);
      expect(document.take()).toEqual([{ op: 'remove', node: 'tr[b]' }]);
      expect(view.rowElement('b')).toBeUndefined();
    });

    it('moves a row whose place in the order changed, keeping its element', () => {
      const { tbody, rows } = setup();
      const order = { value: ['a', 'b', 'c'] };
      const view = domView<StoreData>({ rows, toRows: () => order.value.map((key) => ({ key, cells: [key] })) });
      view.render({}, status());
      const c = view.rowElement('c');
      order.value = ['c', 'a', 'b'];
      view.render({}, status());
      expect(table(tbody).map(([key]) => key)).toEqual(['c', 'a', 'b']);
      expect(view.rowElement('c')).toBe(c);
    });

    it('sets the row state as data-state and removes it when the row has none', () => {
      const { document, rows } = setup();
      const rowsOf = { value: [{ key: 'a', cells: ['a', '1'], state: 'pending' }] as DomRow[] };
      const view = domView<StoreData>({ rows, toRows: () => rowsOf.value });
      view.render({}, status());
      expect(view.rowElement('a')?.getAttribute('data-state')).toBe('pending');
      document.take();

      rowsOf.value = [{ key: 'a', cells: ['a', '1'] }];
      view.render({}, status());

      expect(view.rowElement('a')?.hasAttribute('data-state')).toBe(false);
      expect(document.take()).toEqual([{ op: 'attr', node: 'tr[a]', name: 'data-state', value: null }]);
    });

    it('builds a row again when its number of cells changes', () => {
      const { tbody, rows } = setup();
      const cells = { value: ['a'] };
      const view = domView<StoreData>({ rows, toRows: () => [{ key: 'a', cells: cells.value }, { key: 'b', cells: ['b'] }] });
      view.render({}, status());
      cells.value = ['a', 'more'];
      view.render({}, status());
      expect(table(tbody)).toEqual([
        ['a', 'a', 'more'],
        ['b', 'b'],
      ]);
    });

    it('adds the row actions as buttons in a last cell', () => {
      const { rows } = setup();
      const view = domView({ rows, rowActions: [{ action: 'edit', label: 'Edit' }, { action: 'delete', label: 'Delete' }] });
      view.render({ a: 1 }, status());
      const tr = view.rowElement('a') as unknown as FakeElement;
      const actions = tr.children[2] as FakeElement;
      expect(actions.getAttribute('class')).toBe('actions');
      expect(actions.children.map((button) => [button.tagName, button.getAttribute('data-action'), button.getAttribute('type'), button.textContent])).toEqual([
        ['button', 'edit', 'button', 'Edit'],
        ['button', 'delete', 'button', 'Delete'],
      ]);
    });

    it('replaces placeholder children of the container on the first render', () => {
      const { document, tbody, rows } = setup();
      tbody.appendChild(document.createTextNode('Loading…'));
      domView({ rows }).render({ a: 1 }, status());
      expect(tbody.textContent).toBe('a1');
    });

    it('throws a RangeError naming a key that toRows returned twice', () => {
      const { rows } = setup();
      const view = domView<StoreData>({ rows, toRows: () => [{ key: 'x', cells: [] }, { key: 'x', cells: [] }] });
      expect(() => view.render({}, status())).toThrow(RangeError);
      expect(() => view.render({}, status())).toThrow(/"x" twice/);
    });
  });

  describe('markup in data', () => {
    it('shows markup in keys and values as text and creates no element from it', () => {
      const { document, tbody, rows } = setup();
      const markup = '<img src=x onerror=alert(1)>';
      domView({ rows }).render({ [markup]: markup, '<b>k</b>': '<script>alert(2)</script>' }, status());
      expect(table(tbody)).toEqual([
        ['<b>k</b>', '<b>k</b>', '<script>alert(2)</script>'],
        [markup, markup, markup],
      ]);
      expect(new Set(document.take().flatMap((m) => (m.op === 'create' ? [m.tag] : [])))).toEqual(new Set(['tr', 'td']));
    });
  });

  describe('status', () => {
    it('sets data-state and data-online on the badge, only when they change', () => {
      const { document, rows } = setup();
      const badge = document.createElement('div');
      const view = domView({ rows, badge: badge as unknown as Element });
      view.render({}, status({ state: 'connecting' }));
      expect([badge.getAttribute('data-state'), badge.getAttribute('data-online')]).toEqual(['connecting', 'true']);
      document.take();

      view.render({}, status({ state: 'connecting', attempt: 3 }));
      expect(document.take()).toEqual([]);

      view.render({}, status({ state: 'errored', online: false }));
      expect([badge.getAttribute('data-state'), badge.getAttribute('data-online')]).toEqual(['errored', 'false']);
    });

    it('writes each field as one text node and rewrites it only when its text changes', () => {
      const { document, rows } = setup();
      const field = document.createElement('span');
      field.appendChild(document.createTextNode('placeholder'));
      const clock = { now: 1_000 };
      const view = domView({
        rows,
        now: () => clock.now,
        fields: [
          {
            element: field as unknown as Element,
            text: (s, now) => (s.nextRetryAt === null ? s.state : `${s.state} · ${((s.nextRetryAt - now) / 1000).toFixed(1)} s`),
          },
        ],
      });
      const waiting = status({ state: 'errored', nextRetryAt: 3_000 });
      view.render({}, waiting);
      expect(field.textContent).toBe('errored · 2.0 s');
      expect(field.childNodes).toHaveLength(1);
      document.take();

      view.render({}, waiting);
      expect(document.take()).toEqual([]);

      clock.now = 2_500;
      view.render({}, waiting);
      expect(document.take()).toEqual([{ op: 'text', from: 'errored · 2.0 s', to: 'errored · 0.5 s' }]);
    });
  });
});

describe('domView options', () => {
  it.each([
    ['no options', undefined, /domView needs \{ rows \}: the element that holds one child per row.*received undefined/],
    ['null', null, /received null/],
    ['no rows', {}, /received rows: undefined/],
    ['rows that are not an element', { rows: 'tbody' }, /received rows: string/],
  ])('throws a TypeError that says what rows is for %s', (_name, options, message) => {
    expect(() => domView(options as never)).toThrow(TypeError);
    expect(() => domView(options as never)).toThrow(message);
  });
});

describe('storeRows', () => {
  it('sorts keys by code unit, the same everywhere', () => {
    expect(storeRows({ b: 1, B: 2, a: 3, 'ä': 4 }).map((row) => row.key)).toEqual(['B', 'a', 'b', 'ä']);
  });
});

describe('formatValue', () => {
  it.each([
    ['text', 'text'],
    [42, '42'],
    [true, 'true'],
    [null, 'null'],
    [[1, 'a'], '[1,"a"]'],
    [{ a: 1 }, '{"a":1}'],
  ] as const)('shows %j as %j', (value, text) => {
    expect(formatValue(value as never)).toBe(text);
  });
});
