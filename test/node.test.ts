/**
 * The Node entry (src/node.ts): the same option checks as the browser entry,
 * whatever it receives. Its `ws` with `maxPayload` at `maxMessageBytes` is
 * tested with real frames in test/integration/ws.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createConnection as createBrowserConnection } from '../src/index.js';
import { createConnection } from '../src/node.js';
import { FakeWebSocket } from '../src/testing/index.js';
import type { WebSocketConstructor } from '../src/types.js';

const Fake = FakeWebSocket as unknown as WebSocketConstructor;

/** The error `create` throws for `options`, as [constructor name, message]. */
function thrown(create: (options: never) => unknown, options: unknown): [string, string] {
  try {
    create(options as never);
  } catch (error) {
    return [(error as Error).constructor.name, (error as Error).message];
  }
  throw new Error(`${JSON.stringify(options)} was accepted`);
}

describe('the Node entry', () => {
  const base = { url: 'ws://127.0.0.1:1/', autoStart: false, WebSocket: Fake };

  it.each([
    ['no options', undefined, /createConnection needs an options object; received undefined/],
    ['null', null, /createConnection needs an options object; received null/],
    ['a string', 'ws://x', /createConnection needs an options object; received "ws:\/\/x"/],
    ['inspect: true', { ...base, inspect: true }, /option `inspect` must be an inspector with an inspect observer .*received true/],
    ['inspect: null', { ...base, inspect: null }, /option `inspect` must be an inspector .*received null/],
    ['inspect: a string', { ...base, inspect: 'ws://x' }, /option `inspect` must be an inspector .*received "ws:\/\/x"/],
    ['inspect: { url: 1n }', { ...base, inspect: { url: 1n } }, /option `inspect.url` must be the ws:\/\/ URL of an inspector relay .*received 1n/],
    ['inspect: { url: 5 }', { ...base, inspect: { url: 5 } }, /option `inspect.url` must be the ws:\/\/ URL .*received 5/],
    ['inspect: { url, extra }', { ...base, inspect: { url: 'ws://127.0.0.1:1/', extra: 1 } }, /unknown option `inspect.extra`/],
  ])('throws the browser entry\'s TypeError for %s', (_name, options, message) => {
    const [type, text] = thrown(createConnection, options);
    expect(type).toBe('TypeError');
    expect(text).toMatch(message);
    expect(thrown(createBrowserConnection, options)).toEqual([type, text]);
  });

  it('takes inspect: { url } where the browser entry refuses it, saying what to use there', () => {
    const options = { ...base, inspect: { url: 'ws://127.0.0.1:1/inspect' } };
    createConnection(options).stop();
    const [type, text] = thrown(createBrowserConnection, options);
    expect(type).toBe('TypeError');
    expect(text).toMatch(/inspect: \{ url \}` works in Node only.*createRelayInspector\(\{ url \}\) from 'statesocket\/inspect'/);
  });
});
