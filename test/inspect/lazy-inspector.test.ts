/**
 * `inspect: { url }` in Node loads the relay inspector (and with it the
 * optional peer `@statelyai/inspect`) only when asked for. A fake loader and a
 * fake relay stand in for the import, so no test depends on what is installed.
 */
import type { InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { RelayInspector } from '../../src/inspect/relay-inspector.js';
import { createLazyRelayInspector, inspectorLoadProblem, loadRelayInspector, type RelayInspectorLoader } from '../../src/lazy-inspector.js';
import { createConnection } from '../../src/node.js';
import { FakeWebSocket } from '../../src/testing/index.js';
import type { WebSocketConstructor } from '../../src/types.js';

const WebSocket = FakeWebSocket as unknown as WebSocketConstructor;
const URL = 'ws://127.0.0.1:8090/inspect';

function event(n: number): InspectionEvent {
  return { type: '@xstate.event', n } as unknown as InspectionEvent;
}

/** A loader whose import settles when the test says, and the relay it makes. */
function deferredLoader() {
  const received: unknown[] = [];
  let stopped = 0;
  const relay = {
    inspect: { next: (e: unknown) => received.push(e) },
    stop: () => void stopped++,
  } as unknown as RelayInspector;
  let settle!: (outcome: 'load' | Error) => void;
  const settled = new Promise<'load' | Error>((resolve) => (settle = resolve));
  const load: RelayInspectorLoader = async () => {
    const outcome = await settled;
    if (outcome instanceof Error) throw outcome;
    return { createRelayInspector: () => relay };
  };
  return { load, settle, received, stopped: () => stopped };
}

/** What Node throws for an import of a package that is not installed. */
function missingPackage(name: string): Error {
  return Object.assign(new Error(`Cannot find package '${name}' imported from /app/node_modules/statesocket/dist/src/inspect/relay-inspector.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

describe('lazy relay inspector', () => {
  it('keeps events while the inspector loads, then hands them over in order, then forwards', async () => {
    const loader = deferredLoader();
    const inspector = createLazyRelayInspector({ url: URL, WebSocket, load: loader.load, warn: () => {} });
    const observe = inspector.inspect as (e: InspectionEvent) => void;
    observe(event(1));
    observe(event(2));
    expect(loader.received).toEqual([]);
    loader.settle('load');
    await inspector.ready;
    observe(event(3));
    expect(loader.received).toEqual([event(1), event(2), event(3)]);
    inspector.stop();
    expect(loader.stopped()).toBe(1);
  });

  it('keeps at most maxBufferedEvents while loading, dropping the oldest', async () => {
    const loader = deferredLoader();
    const inspector = createLazyRelayInspector({ url: URL, WebSocket, load: loader.load, warn: () => {}, maxBufferedEvents: 2 });
    for (const n of [1, 2, 3]) (inspector.inspect as (e: InspectionEvent) => void)(event(n));
    loader.settle('load');
    await inspector.ready;
    expect(loader.received).toEqual([event(2), event(3)]);
  });

  it('names the package to install when @statelyai/inspect is missing, once, and inspects nothing', async () => {
    const loader = deferredLoader();
    const warnings: string[] = [];
    const inspector = createLazyRelayInspector({ url: URL, WebSocket, load: loader.load, warn: (m) => warnings.push(m) });
    (inspector.inspect as (e: InspectionEvent) => void)(event(1));
    loader.settle(missingPackage('@statelyai/inspect'));
    await inspector.ready;
    (inspector.inspect as (e: InspectionEvent) => void)(event(2));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('npm install @statelyai/inspect');
    expect(warnings[0]).toContain('the connection runs normally');
    expect(loader.received).toEqual([]);
  });

  it('says what failed for any other load error', () => {
    expect(inspectorLoadProblem(new SyntaxError('Unexpected token'))).toMatch(/statesocket\/inspect\) could not be loaded: Unexpected token/);
    expect(inspectorLoadProblem(missingPackage('partysocket'))).not.toContain('npm install @statelyai/inspect');
  });

  it('makes no relay when stopped before the import settles', async () => {
    const loader = deferredLoader();
    const warnings: string[] = [];
    const inspector = createLazyRelayInspector({ url: URL, WebSocket, load: loader.load, warn: (m) => warnings.push(m) });
    inspector.stop();
    loader.settle('load');
    await inspector.ready;
    (inspector.inspect as (e: InspectionEvent) => void)(event(1));
    expect([loader.received, loader.stopped(), warnings]).toEqual([[], 0, []]);
  });

  it('loads the real relay inspector from statesocket/inspect', async () => {
    const module = await loadRelayInspector();
    expect(typeof module.createRelayInspector).toBe('function');
  });
});

describe("createConnection's inspect: { url } (Node)", () => {
  it('refuses a url that is not ws:// at once, naming the option', () => {
    expect(() => createConnection({ url: 'ws://127.0.0.1:1', WebSocket, inspect: { url: 'http://x/' } })).toThrow(/inspect\.url.*ws:\/\//);
  });
});
