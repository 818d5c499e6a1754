// @vitest-environment jsdom
import { StrictMode } from 'react';
import { act, cleanup, render } from '@testing-library/react';
import { afterEach, expect, test } from 'vitest';
import { rawProtocol, timeoutScheduler } from '../../src/index.js';
import { TestClock, createFakeSockets } from '../../src/testing/index.js';
import { useConnection, useConnectionStatus, useModel } from '../../src/react/index.js';

afterEach(cleanup);

test('smoke', async () => {
  const clock = new TestClock();
  const sockets = createFakeSockets();
  const options = { url: 'ws://x.test/', WebSocket: sockets.WebSocket, clock, now: () => clock.now(), schedule: timeoutScheduler(16, clock), protocol: rawProtocol, environment: false as const };
  let data: Record<string, unknown> = {};
  const model = { update: (message: Record<string, unknown>) => { data = message; }, getData: () => data };
  let renders = 0;
  function App() {
    const connection = useConnection({ ...options, model });
    const status = useConnectionStatus(connection);
    const { value } = useModel(connection, (d) => d['a']);
    renders += 1;
    return <p>{status.state}:{String(value)}</p>;
  }
  const view = render(<StrictMode><App /></StrictMode>);
  await act(async () => {});
  expect(sockets.all.length).toBe(1);
  act(() => sockets.latest.open());
  expect(view.container.textContent).toBe('open:undefined');
  act(() => { sockets.latest.receive({ a: 1 }); clock.advance(16); });
  expect(view.container.textContent).toBe('open:1');
  const before = renders;
  act(() => { sockets.latest.receive({ a: 1, b: 2 }); clock.advance(16); });
  expect(renders).toBe(before);
  view.unmount();
  expect(sockets.latest.readyState).toBe(3);
});
