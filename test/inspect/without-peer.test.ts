/**
 * `statesocket/inspect` where the optional peer `@statelyai/inspect` is not
 * installed: its import fails as Node's does (ERR_MODULE_NOT_FOUND). The entry
 * still imports, `toMermaid` works, and `createRelayInspector` warns once,
 * naming what to install, while the connection runs uninspected.
 */
import { describe, expect, it, vi } from 'vitest';
import { connectionMachine } from '../../machines/connection.js';
import { createRelayInspector, toMermaid } from '../../src/inspect/index.js';
import { FakeWebSocket, createTestConnection } from '../../src/testing/index.js';
import type { WebSocketConstructor } from '../../src/types.js';

vi.mock('@statelyai/inspect', () => {
  throw Object.assign(new Error("Cannot find package '@statelyai/inspect' imported from /app/node_modules/statesocket/dist/src/inspect/relay-inspector.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
});

describe('statesocket/inspect without @statelyai/inspect', () => {
  it('imports, and draws the chart with toMermaid', () => {
    expect(toMermaid(connectionMachine)).toMatch(/^stateDiagram-v2\n/);
  });

  it('gives createRelayInspector a warning that names npm install @statelyai/inspect, once, and inspection is off', async () => {
    const warnings: string[] = [];
    const inspector = createRelayInspector({
      url: 'ws://127.0.0.1:1/inspect',
      WebSocket: FakeWebSocket as unknown as WebSocketConstructor,
      warn: (message) => warnings.push(message),
    });
    const t = createTestConnection({ inspect: inspector });
    t.open();
    await inspector.ready;
    t.socket.receive({ a: 1 });
    expect(warnings).toEqual([
      "statesocket: statesocket/inspect's createRelayInspector needs @statelyai/inspect, an optional peer dependency that is not installed; " +
        'run npm install @statelyai/inspect. Inspection is off (the connection runs normally)',
    ]);
    expect(inspector.connected).toBe(false);
    expect(t.connection.getStatus()).toMatchObject({ state: 'open', counters: { received: 1 } });
    t.connection.stop();
    inspector.stop();
  });

  it('still checks its options at once', () => {
    expect(() => createRelayInspector({ url: 'http://x/', WebSocket: FakeWebSocket as unknown as WebSocketConstructor })).toThrow(
      /createRelayInspector: url must be a ws:\/\/ URL; received "http:\/\/x\/"/,
    );
  });
});
