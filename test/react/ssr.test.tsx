/**
 * Server rendering, in Node (no DOM): `renderToString` of components using every hook opens no
 * socket and renders the idle status; the channel shows as unsubscribed, with no data yet, and
 * useModel an undefined value (what hydration renders again: no mismatch).
 */
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { createChannelProtocol } from '../../src/index.js';
import { ConnectionProvider, useChannel, useConnection, useConnectionStatus, useModel } from '../../src/react/index.js';
import { harness, type Data } from './harness.js';

function Page() {
  const status = useConnectionStatus();
  const notes = useChannel('notes', { presence: true });
  const { value } = useModel(useConnection(), (data) => Object.keys(data as Data).length);
  return (
    <p>
      {status.state} {status.attempt} {notes.status.state} {String(notes.data)} {String(notes.presence)} {value}
    </p>
  );
}

describe('server rendering', () => {
  it('opens no socket and renders idle', () => {
    const h = harness(createChannelProtocol() as never);
    const html = renderToString(
      <ConnectionProvider options={h.options()}>
        <Page />
      </ConnectionProvider>,
    );
    expect(html).toBe('<p>idle<!-- --> <!-- -->0<!-- --> <!-- -->unsubscribed<!-- --> <!-- -->undefined<!-- --> <!-- -->null<!-- --> </p>');
    expect(h.sockets.all).toHaveLength(0);
    expect(h.clock.pendingTimers).toBe(0);
  });

  it('renders without a WebSocket on the platform (Node 20 has no global one)', () => {
    const platform = (globalThis as { WebSocket?: unknown }).WebSocket;
    function Badge() {
      return <b>{useConnectionStatus(useConnection({ url: 'ws://127.0.0.1:1/', environment: false })).state}</b>;
    }
    delete (globalThis as { WebSocket?: unknown }).WebSocket;
    try {
      expect(renderToString(<Badge />)).toBe('<b>idle</b>');
    } finally {
      if (platform !== undefined) (globalThis as { WebSocket?: unknown }).WebSocket = platform;
    }
  });
});
