// @vitest-environment jsdom
/**
 * `<Activity mode="hidden">` (React 19) tears a subtree's effects down and keeps its state; shown
 * again, its effects are set up anew. A connection owned by useConnection or a provider is stopped
 * while hidden and, shown again, a new one on the same options and Model takes its place and
 * connects: never a connection left stopped. React 18 has no Activity: the react-18 project leaves
 * this file out (vitest.config.ts).
 */
import { Activity, StrictMode, useState, type ReactNode } from 'react';
import { act, cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { createChannelProtocol, type Connection } from '../../src/index.js';
import type { FakeWebSocket } from '../../src/testing/index.js';
import { ConnectionProvider, useChannel, useConnection, useConnectionStatus, useModel } from '../../src/react/index.js';
import { harness, settle } from './harness.js';

afterEach(cleanup);

type AnyConnection = Connection<never, never>;

function Shown({ visible, children }: { visible: boolean; children: ReactNode }) {
  return <Activity mode={visible ? 'visible' : 'hidden'}>{children}</Activity>;
}

describe('useConnection inside <Activity>', () => {
  it('stops the connection while hidden and connects a new one on the same Model when shown, state kept', async () => {
    const h = harness();
    const used: AnyConnection[] = [];
    let bump: () => void = () => {};
    function App() {
      const [clicks, setClicks] = useState(0);
      bump = () => setClicks((n) => n + 1);
      const connection = useConnection(h.options());
      used.push(connection as never);
      const { value } = useModel(connection, (data) => data['k']);
      return <p>{`${clicks} ${useConnectionStatus(connection).state} ${String(value)}`}</p>;
    }
    const view = render(<Shown visible>{<App />}</Shown>);
    await settle();
    act(() => h.sockets.latest.open());
    act(() => h.sockets.latest.receive({ k: 1 }));
    h.frame();
    act(() => bump());
    expect(view.container.textContent).toBe('1 open 1');
    const first = used.at(-1);

    view.rerender(<Shown visible={false}>{<App />}</Shown>);
    await settle();
    expect(first?.getStatus().state).toBe('closed');
    expect(h.sockets.all[0]?.closeCalls).toEqual([{ code: 1000, reason: '' }]);
    expect(h.sockets.live).toHaveLength(0);

    view.rerender(<Shown visible>{<App />}</Shown>);
    await settle();
    expect(h.sockets.all).toHaveLength(2);
    const second = used.at(-1);
    expect(second).not.toBe(first);
    expect(second?.model).toBe(first?.model);
    // the component's state and the Model's data stayed; the new connection connects
    expect(view.container.textContent).toBe('1 connecting 1');
    act(() => h.sockets.latest.open());
    expect(view.container.textContent).toBe('1 open 1');

    view.unmount();
    expect(second?.getStatus().state).toBe('closed');
    expect(h.sockets.live).toHaveLength(0);
  });

  it('opens no socket again for a subtree unmounted while hidden', async () => {
    const h = harness();
    function App() {
      useConnection(h.options());
      return null;
    }
    const view = render(<Shown visible>{<App />}</Shown>);
    await settle();
    view.rerender(<Shown visible={false}>{<App />}</Shown>);
    await settle();
    view.unmount();
    await settle();
    expect(h.sockets.all).toHaveLength(1);
    expect(h.sockets.live).toHaveLength(0);
  });

  it('under StrictMode, opens one socket per showing', async () => {
    const h = harness();
    function App() {
      return <p>{useConnectionStatus(useConnection(h.options())).state}</p>;
    }
    const tree = (visible: boolean) => (
      <StrictMode>
        <Shown visible={visible}>
          <App />
        </Shown>
      </StrictMode>
    );
    const view = render(tree(true));
    await settle();
    expect(h.sockets.all).toHaveLength(1);
    for (let showing = 2; showing <= 3; showing += 1) {
      view.rerender(tree(false));
      await settle();
      expect(h.sockets.live).toHaveLength(0);
      view.rerender(tree(true));
      await settle();
      expect(h.sockets.all).toHaveLength(showing);
      expect(h.sockets.live).toHaveLength(1);
      expect(view.container.textContent).toBe('connecting');
    }
    view.unmount();
    expect(h.sockets.live).toHaveLength(0);
  });
});

describe('<ConnectionProvider> inside <Activity>', () => {
  it("gives its subtree the new connection when shown again, and the children follow its status", async () => {
    const h = harness();
    const seen = new Set<AnyConnection>();
    function Child() {
      seen.add(useConnection() as never);
      return <span>{useConnectionStatus().state}</span>;
    }
    const tree = (visible: boolean) => (
      <Shown visible={visible}>
        <ConnectionProvider options={h.options()}>
          <Child />
        </ConnectionProvider>
      </Shown>
    );
    const view = render(tree(true));
    await settle();
    act(() => h.sockets.latest.open());
    expect(view.container.textContent).toBe('open');
    view.rerender(tree(false));
    await settle();
    expect(h.sockets.live).toHaveLength(0);
    view.rerender(tree(true));
    await settle();
    act(() => h.sockets.latest.open());
    expect(view.container.textContent).toBe('open');
    expect(h.sockets.all).toHaveLength(2);
    expect([...seen].map((connection) => connection.getStatus().state)).toEqual(['closed', 'open']);
    view.unmount();
    expect(h.sockets.live).toHaveLength(0);
  });
});

describe('useChannel inside <Activity>', () => {
  it('holds the channel again on the new connection when shown, never showing it failed', async () => {
    const h = harness(createChannelProtocol({ defaultChannel: false }) as never);
    const options = h.options();
    const states: string[] = [];
    function Notes() {
      const { status } = useChannel('notes');
      if (states.at(-1) !== status.state) states.push(status.state);
      return <span>{status.state}</span>;
    }
    const tree = (visible: boolean) => (
      <Shown visible={visible}>
        <ConnectionProvider options={options}>
          <Notes />
        </ConnectionProvider>
      </Shown>
    );
    const welcome = async (): Promise<FakeWebSocket> => {
      await settle();
      act(() => {
        h.sockets.latest.open();
        h.sockets.latest.receive({ type: 'welcome', v: 2, client: 'c1', user: null, maxMessageBytes: 1_048_576, time: 1_000 });
      });
      return h.sockets.latest;
    };
    const frames = (socket: FakeWebSocket) =>
      (socket.sentMessages() as Array<Record<string, unknown>>).map((frame) => `${String(frame.type)} ${String(frame.channel ?? '')}`.trim());
    const view = render(tree(true));
    const first = await welcome();
    expect(frames(first)).toEqual(['hello', 'subscribe notes']);
    view.rerender(tree(false));
    await settle();
    expect(h.sockets.live).toHaveLength(0);
    view.rerender(tree(true));
    const second = await welcome();
    expect(second).not.toBe(first);
    expect(frames(second)).toEqual(['hello', 'subscribe notes']);
    expect(view.container.textContent).toBe('subscribing');
    expect(states).not.toContain('failed');
    view.unmount();
    await settle();
    expect(h.sockets.live).toHaveLength(0);
  });
});
