import { describe, expect, it } from 'vitest';
import { contextTree, previewValue, redactForDisplay, type ContextTreeNode } from '../../src/inspect/context-tree.js';

/** Every `path = preview` of a tree, leaves and branches. */
function flatten(node: ContextTreeNode): Record<string, string> {
  const rows: Record<string, string> = { [node.path]: node.preview };
  for (const child of node.children ?? []) Object.assign(rows, flatten(child));
  return rows;
}

describe('context tree', () => {
  describe('redaction', () => {
    const context = {
      url: 'wss://api.example.com/live?token=abc123&room=7',
      backup: 'https://user:hunter2@example.com/feed?api_key=k3y',
      plain: 'https://example.com/docs',
      auth: { password: 'pw', username: 'ada', sessionToken: 'st', nested: { secret: 's', note: 'keep' } },
      headers: [{ name: 'x', apiKey: 'zzz' }],
      token: null,
      lastError: { code: 'ERR_ABNORMAL_CLOSE', closeCode: 1006 },
    };
    const rows = flatten(contextTree(context));
    const all = JSON.stringify(rows);

    it('hides credential-like query values of ws, wss and http(s) URLs', () => {
      expect(rows['context.url']).toBe('"wss://api.example.com/live?token=[redacted]&room=7"');
      expect(rows['context.backup']).toBe('"https://user:[redacted]@example.com/feed?api_key=[redacted]"');
      expect(rows['context.plain']).toBe('"https://example.com/docs"');
    });

    it('hides values under keys named like token, password, secret or api key, at any depth', () => {
      expect(rows['context.auth.password']).toBe('[redacted]');
      expect(rows['context.auth.sessionToken']).toBe('[redacted]');
      expect(rows['context.auth.nested.secret']).toBe('[redacted]');
      expect(rows['context.headers[0].apiKey']).toBe('[redacted]');
      expect(rows['context.auth.username']).toBe('"ada"');
      expect(rows['context.auth.nested.note']).toBe('"keep"');
    });

    it('shows that a secret is absent (null) without showing anything of it', () => {
      expect(rows['context.token']).toBe('null');
    });

    it('leaves no secret anywhere in the tree', () => {
      for (const secret of ['abc123', 'hunter2', 'k3y', '"pw"', '"st"', '"s"', 'zzz']) expect(all).not.toContain(secret);
    });

    it('marks redacted leaves so the page can style them', () => {
      const auth = contextTree(context).children?.find((child) => child.key === 'auth');
      expect(auth?.children?.find((child) => child.key === 'password')?.kind).toBe('redacted');
    });

    it('does not change the context it was given', () => {
      const copy = structuredClone(context);
      contextTree(context);
      redactForDisplay(context);
      expect(context).toEqual(copy);
    });
  });

  describe('shape', () => {
    it('previews branches by size and leaves by value', () => {
      const tree = contextTree({ counters: { sent: 1, received: 2 }, outbox: [1, 2, 3], online: true, lastError: null });
      expect(flatten(tree)).toEqual({
        context: '{4 keys}',
        'context.counters': '{2 keys}',
        'context.counters.sent': '1',
        'context.counters.received': '2',
        'context.outbox': '[3 items]',
        'context.outbox[0]': '1',
        'context.outbox[1]': '2',
        'context.outbox[2]': '3',
        'context.online': 'true',
        'context.lastError': 'null',
      });
    });

    it('caps children and depth, and cuts long strings', () => {
      const tree = contextTree({ big: Array.from({ length: 500 }, (_, i) => i), deep: { a: { b: { c: 1 } } }, text: 'x'.repeat(1000) }, {
        maxChildren: 10,
        maxDepth: 2,
        maxStringLength: 20,
      });
      const big = tree.children?.find((child) => child.key === 'big');
      expect(big?.children).toHaveLength(10);
      expect(big?.omitted).toBe(490);
      const deep = tree.children?.find((child) => child.key === 'deep');
      expect(deep?.children?.[0]?.children).toBeUndefined();
      expect(tree.children?.find((child) => child.key === 'text')?.preview).toBe(`"${'x'.repeat(19)}…"`);
    });
  });

  describe('one-line previews for the log', () => {
    it('redacts while it writes', () => {
      expect(previewValue({ url: 'ws://h/?token=abc', code: 1006, password: 'p' }, 200)).toBe(
        '{"url":"ws://h/?token=[redacted]","code":1006,"password":"[redacted]"}',
      );
    });

    it('stops at the length limit however large the value', () => {
      // Every value is a getter that counts its reads: the preview must stop reading once it is full,
      // not walk all 100,000 entries (a count, not a time, so load on the machine cannot fail it).
      let reads = 0;
      const data: Record<string, number> = {};
      for (let i = 0; i < 100_000; i++) {
        Object.defineProperty(data, `k${i}`, { enumerable: true, get: () => (reads++, i) });
      }
      const text = previewValue({ data }, 80);
      expect(text).toHaveLength(80);
      expect(text.endsWith('…')).toBe(true);
      expect(reads).toBeLessThan(20);
    });
  });
});
