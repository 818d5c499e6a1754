/**
 * What the channel hook tests share: a StrictMode provider on fake sockets with the channel
 * protocol (version 2), opened and welcomed by `start()`, and the frames the client wrote.
 */
import { StrictMode, type ReactNode } from 'react';
import { act } from '@testing-library/react';
import { createChannelProtocol } from '../../src/index.js';
import type { FakeWebSocket } from '../../src/testing/index.js';
import { ConnectionProvider } from '../../src/react/index.js';
import { harness, settle } from './harness.js';

/** What the client wrote, as `type channel` lines. */
export const written = (socket: FakeWebSocket) =>
  (socket.sentMessages() as Array<Record<string, unknown>>).map((frame) => `${String(frame.type)}${frame.channel ? ` ${String(frame.channel)}` : ''}`);

/** A provider on fake sockets, opened and welcomed once `start()` ran. */
export function setup() {
  const h = harness(createChannelProtocol({ defaultChannel: false }) as never);
  const options = h.options();
  const wrap = (children: ReactNode) => (
    <StrictMode>
      <ConnectionProvider options={options}>{children}</ConnectionProvider>
    </StrictMode>
  );
  const start = async () => {
    await settle();
    act(() => {
      h.sockets.latest.open();
      h.sockets.latest.receive({ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1_048_576, time: 1_000 });
    });
    return h.sockets.latest;
  };
  return { h, wrap, start };
}
