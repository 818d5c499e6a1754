import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createRelayInspector } from '../../src/inspect/relay-inspector.js';
import { createConnection } from '../../src/node.js';
import type { WebSocketConstructor } from '../../src/types.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function relay() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const messages: Array<{ type: string; [key: string]: unknown }> = [];
  server.on('connection', (socket) => {
    cleanups.push(() => socket.terminate());
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/inspect`, messages };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('relay inspector', () => {
  it('streams actor, event and snapshot messages with the definition and redacted context', async () => {
    const target = await relay();
    const app = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => app.once('listening', resolve));
    cleanups.push(() => new Promise((resolve) => app.close(resolve)));
    app.on('connection', (socket) => cleanups.push(() => socket.terminate()));
    const connection = createConnection({
      url: `ws://127.0.0.1:${(app.address() as AddressInfo).port}/?token=s3cret`,
      inspect: { url: target.url },
    });
    cleanups.push(() => connection.stop());
    for (let i = 0; i < 100 && !target.messages.some((m) => m.type === '@xstate.snapshot' && JSON.stringify(m).includes('"open"')); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const actor = target.messages.find((m) => m.type === '@xstate.actor' && typeof m.definition === 'string' && (m.definition as string).includes('"connection"'));
    expect(actor).toBeDefined();
    expect(actor?.definition as string).toContain('awaitingPong'); // nested states survive serialization
    expect(target.messages.some((m) => m.type === '@xstate.event')).toBe(true);
    const all = JSON.stringify(target.messages);
    expect(all).toContain('token=[redacted]');
    expect(all).not.toContain('s3cret');
  });

  it('warns once and gives up on an unreachable relay without keeping timers alive', async () => {
    const port = await freePort();
    const warnings: string[] = [];
    const inspector = createRelayInspector({
      url: `ws://127.0.0.1:${port}/inspect`,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      maxAttempts: 2,
      warn: (message) => warnings.push(message),
    });
    cleanups.push(() => inspector.stop());
    for (let i = 0; i < 100 && warnings.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/inspector relay .* is not reachable|inspection is off/);
    expect(inspector.connected).toBe(false);
  });
});
