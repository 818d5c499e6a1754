// @vitest-environment jsdom
/**
 * useConnection and <ConnectionProvider>: one socket under StrictMode, the connection's life
 * follows the component's, options whose identity changes each render do not reconnect, a new
 * url does; the provider shares one; options win over it; no connection is a coded error.
 */
import { StrictMode, type ReactNode } from 'react';
import { act, cleanup, render } from '@testing-library/react';
import { hydrateRoot, type Root } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isStatesocketError, type Connection, type View } from '../../src/index.js';
import { createTestConnection } from '../../src/testing/index.js';
import { ConnectionProvider, useConnection, useConnectionStatus } from '../../src/react/index.js';
import { harness, settle, type Data } from './harness.js';

afterEach(cleanup);

type AnyConnection = Connection<never, never>;

describe('useConnection(options)', () => {
  it('opens exactly one socket under StrictMode, in an effect, and closes it on unmount', async () => {
    const h = harness();
    const seen: AnyConnection[] = [];
    function App() {
      const connection = useConnection(h.options());
      seen.push(connection as never);
      return <p>{useConnectionStatus(connection).state}</p>;
    }
    const view = render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    // made during render, idle; no socket until the effect's microtask
    expect(h.sockets.all).toHaveLength(0);
    await settle();
    expect(h.sockets.all).toHaveLength(1);
    expect(new Set(seen.filter((connection) => connection.getStatus().state !== 'idle')).size).toBe(1);
    act(() => h.sockets.latest.open());
    expect(view.container.textContent).toBe('open');
    const [connection] = seen.filter((each) => each.getStatus().state === 'open');
    view.unmount();
    expect(h.sockets.latest.closeCalls).toEqual([{ code: 1000, reason: '' }]);
    expect(connection?.getStatus().state).toBe('closed');
    expect(h.sockets.live).toHaveLength(0);
  });

  it('closes a connection unmounted before it started, and opens no socket', async () => {
    const h = harness();
    let made: AnyConnection | null = null;
    function App() {
      made = useConnection(h.options()) as never;
      return null;
    }
    const view = render(<App />);
    view.unmount();
    await settle();
    expect(h.sockets.all).toHaveLength(0);
    expect((made as AnyConnection | null)?.getStatus().state).toBe('closed');
  });

  it('keeps the connection when options are a new object each render; a new url reconnects', async () => {
    const h = harness();
    const connections = new Set<AnyConnection>();
    function App({ url, tick }: { url: string; tick: number }) {
      const connection = useConnection(h.options({ url, historyLimit: 100 + tick }));
      connections.add(connection as never);
      return null;
    }
    const view = render(<App url="ws://one.test/" tick={0} />);
    await settle();
    h.sockets.latest.open();
    for (let tick = 1; tick <= 5; tick += 1) view.rerender(<App url="ws://one.test/" tick={tick} />);
    await settle();
    expect(connections.size).toBe(1);
    expect(h.sockets.all).toHaveLength(1);
    view.rerender(<App url="ws://two.test/" tick={6} />);
    await settle();
    expect(connections.size).toBe(2);
    expect(h.sockets.all.map((socket) => socket.url)).toEqual(['ws://one.test/', 'ws://two.test/']);
    // the old one was stopped: its socket got a close frame
    expect(h.sockets.all[0]?.closeCalls).toEqual([{ code: 1000, reason: '' }]);
    view.unmount();
    expect(h.sockets.live).toHaveLength(0);
  });

  it('calls the latest url provider and the latest view, without reconnecting when they change', async () => {
    const h = harness();
    const rendered: string[] = [];
    function App({ name }: { name: string }) {
      const view: View<Data> = { render: (data) => rendered.push(`${name} ${JSON.stringify(data)}`) };
      useConnection(h.options({ url: () => `ws://${name}.test/`, view }));
      return null;
    }
    const view = render(<App name="a" />);
    await settle();
    view.rerender(<App name="b" />);
    h.sockets.latest.open();
    h.sockets.latest.receive({ k: 1 });
    h.clock.advance(16);
    expect(rendered.at(-1)).toBe('b {"k":1}');
    // a reconnect asks the latest provider
    act(() => h.sockets.latest.serverClose(1012, 'restart'));
    h.clock.advance(60_000);
    await settle();
    const urls = h.sockets.all.map((socket) => socket.url);
    expect(urls[0]).toBe('ws://a.test/');
    expect(urls.length).toBeGreaterThan(1);
    expect(new Set(urls.slice(1))).toEqual(new Set(['ws://b.test/']));
    view.unmount();
  });

  it('leaves the start to the user with autoStart: false, and still stops on unmount', async () => {
    const h = harness();
    let connection: AnyConnection | null = null;
    function App() {
      connection = useConnection(h.options({ autoStart: false })) as never;
      return null;
    }
    const view = render(<App />);
    await settle();
    expect(h.sockets.all).toHaveLength(0);
    act(() => (connection as AnyConnection | null)?.connect());
    expect(h.sockets.all).toHaveLength(1);
    view.unmount();
    expect(h.sockets.live).toHaveLength(0);
  });
});

describe('<ConnectionProvider>', () => {
  it('shares the connection it owns with its subtree, under StrictMode one socket, closed on unmount', async () => {
    const h = harness();
    const seen = new Set<AnyConnection>();
    function Child() {
      const connection = useConnection();
      seen.add(connection as never);
      return <span>{useConnectionStatus().state} </span>;
    }
    const view = render(
      <StrictMode>
        <ConnectionProvider options={h.options()}>
          <Child />
          <Child />
        </ConnectionProvider>
      </StrictMode>,
    );
    await settle();
    expect(h.sockets.all).toHaveLength(1);
    act(() => h.sockets.latest.open());
    expect(view.container.textContent).toBe('open open ');
    expect([...seen].filter((connection) => connection.getStatus().state === 'open')).toHaveLength(1);
    view.unmount();
    expect(h.sockets.live).toHaveLength(0);
  });

  it('passes on a connection made elsewhere and never stops it', async () => {
    const t = createTestConnection();
    function Child() {
      return <span>{useConnectionStatus().state}</span>;
    }
    const view = render(
      <ConnectionProvider connection={t.connection}>
        <Child />
      </ConnectionProvider>,
    );
    act(() => t.open());
    expect(view.container.textContent).toBe('open');
    view.unmount();
    await settle();
    expect(t.connection.getStatus().state).toBe('open');
    t.connection.stop();
  });

  it('gives way to options: a component with options owns its own connection inside a provider', async () => {
    const outer = createTestConnection();
    const h = harness();
    let own: AnyConnection | null = null;
    let shared: AnyConnection | null = null;
    function Child() {
      own = useConnection(h.options()) as never;
      shared = useConnection() as never;
      return null;
    }
    const view = render(
      <ConnectionProvider connection={outer.connection}>
        <Child />
      </ConnectionProvider>,
    );
    await settle();
    expect(shared).toBe(outer.connection);
    expect(own).not.toBe(outer.connection);
    expect(h.sockets.all).toHaveLength(1);
    view.unmount();
    expect(h.sockets.live).toHaveLength(0);
    outer.connection.stop();
  });

  it('refuses both or neither of options and connection', () => {
    const t = createTestConnection();
    const h = harness();
    // React 18 also logs the error a render throws, and jsdom the copy React 18 rethrows in an event: expected here
    const quiet = (node: ReactNode) => {
      const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
      const uncaught = (event: ErrorEvent) => event.preventDefault();
      window.addEventListener('error', uncaught);
      try {
        render(node);
        return null;
      } catch (error) {
        return error;
      } finally {
        window.removeEventListener('error', uncaught);
        logged.mockRestore();
      }
    };
    const both = { options: h.options(), connection: t.connection } as unknown as { connection: Connection };
    const neither = {} as { connection: Connection };
    expect(isStatesocketError(quiet(<ConnectionProvider {...both} />), 'ERR_NO_CONNECTION')).toBe(true);
    expect(isStatesocketError(quiet(<ConnectionProvider {...neither} />), 'ERR_NO_CONNECTION')).toBe(true);
    t.connection.stop();
  });
});

describe('without a connection', () => {
  it.each([
    ['useConnection()', () => useConnection()],
    ['useConnectionStatus()', () => useConnectionStatus()],
  ])('%s outside a provider throws ERR_NO_CONNECTION', (_name, hook) => {
    let thrown: unknown = null;
    function App() {
      try {
        hook();
      } catch (error) {
        thrown = error;
      }
      return null;
    }
    render(<App />);
    expect(isStatesocketError(thrown, 'ERR_NO_CONNECTION')).toBe(true);
    expect(String((thrown as Error).message)).toMatch(/ConnectionProvider/);
  });
});

describe('hydration', () => {
  it('hydrates the idle status a server rendered, then connects', async () => {
    const h = harness();
    function Badge() {
      return <b>{useConnectionStatus(useConnection(h.options())).state}</b>;
    }
    const container = document.createElement('div');
    container.innerHTML = renderToString(<Badge />);
    expect(container.innerHTML).toBe('<b>idle</b>');
    expect(h.sockets.all).toHaveLength(0);
    const errors: unknown[] = [];
    let root: Root | null = null;
    await act(async () => {
      root = hydrateRoot(container, <Badge />, { onRecoverableError: (error) => errors.push(error) });
    });
    expect(errors).toEqual([]);
    expect(h.sockets.all).toHaveLength(1);
    expect(container.textContent).toBe('connecting');
    act(() => h.sockets.latest.open());
    expect(container.textContent).toBe('open');
    act(() => (root as Root | null)?.unmount());
    expect(h.sockets.live).toHaveLength(0);
  });
});
