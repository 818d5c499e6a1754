// @vitest-environment jsdom
/**
 * The edges a reviewer found (issue 16): useModel of a channel not held yet (null) and of the
 * provider's connection (undefined); hydration over a connection that already has data; a
 * channel handle held outside the hooks; send()/changes() after unmount; a throwing isEqual
 * and a throwing Model.getData reported as `error`.
 */
import { Component, type ReactNode } from 'react';
import { act, cleanup, render } from '@testing-library/react';
import { hydrateRoot } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it } from 'vitest';
import { createConnection, isStatesocketError, type Model } from '../../src/index.js';
import { ConnectionProvider, useChannel, useConnection, useModel, type ModelSelection, type UseChannelResult } from '../../src/react/index.js';
import { harness, settle, type Data } from './harness.js';
import { setup, written } from './channel-harness.js';

afterEach(cleanup);

/** Catches what a child throws during render, to show it rather than fail the test with React's own report. */
class Catch extends Component<{ children: ReactNode }, { caught: unknown }> {
  override state = { caught: null as unknown };
  static getDerivedStateFromError(caught: unknown) {
    return { caught };
  }
  override render() {
    return this.state.caught === null ? this.props.children : <p>caught</p>;
  }
}

describe('useModel of a source not there yet', () => {
  it('follows nothing for a null channel (useChannel before it is held), then the channel once held', async () => {
    const { h, wrap, start } = setup();
    const shown: Array<ModelSelection<unknown>> = [];
    function Notes() {
      const { channel } = useChannel('notes');
      const selection = useModel(channel, (data) => (data as Data)['title']);
      shown.push(selection);
      return <i>{String(selection.value)}</i>;
    }
    const view = render(wrap(<Notes />));
    expect(shown[0]).toEqual({ value: undefined, error: null });
    const socket = await start();
    act(() =>
      socket.receive(
        { type: 'snapshot', channel: 'notes', epoch: 'N', seq: 0, data: { title: 'hello' } },
        { type: 'synced', channel: 'notes', epoch: 'N', seq: 0 },
      ),
    );
    h.frame();
    expect(view.container.textContent).toBe('hello');
    expect(shown.every((selection) => selection.error === null)).toBe(true);
    view.unmount();
  });

  it("takes the provider's connection for an undefined source, and throws ERR_NO_CONNECTION outside a provider", () => {
    const h = harness();
    h.model.update({ a: 1 });
    function Keys() {
      return <i>{Object.keys(useModel(undefined).value as Data).join()}</i>;
    }
    const view = render(<ConnectionProvider options={h.options({ autoStart: false })}>{<Keys />}</ConnectionProvider>);
    expect(view.container.textContent).toBe('a');
    view.unmount();
    let thrown: unknown = null;
    function Outside() {
      try {
        useModel(undefined);
      } catch (error) {
        thrown = error;
      }
      return null;
    }
    render(<Outside />);
    expect(isStatesocketError(thrown, 'ERR_NO_CONNECTION')).toBe(true);
  });
});

describe('hydration', () => {
  it('hydrates over a connection that already has data without a mismatch, then shows the data', async () => {
    const h = harness();
    function Price() {
      const { value } = useModel(useConnection(), (data) => (data as Data)['BTC-USD']);
      return <u>{String(value ?? '…')}</u>;
    }
    const idle = createConnection(h.options({ autoStart: false }) as never);
    const html = renderToString(
      <ConnectionProvider connection={idle}>
        <Price />
      </ConnectionProvider>,
    );
    expect(html).toBe('<u>…</u>');
    const filled = lastMessage();
    filled.update({ 'BTC-USD': 42 });
    const live = createConnection(h.options({ autoStart: false, model: filled }) as never);
    const element = document.createElement('div');
    element.innerHTML = html;
    document.body.append(element);
    const reported: unknown[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => reported.push(args);
    let root: ReturnType<typeof hydrateRoot> | null = null;
    try {
      await act(async () => {
        root = hydrateRoot(
          element,
          <ConnectionProvider connection={live}>
            <Price />
          </ConnectionProvider>,
          { onRecoverableError: (error) => reported.push(error) },
        );
      });
    } finally {
      console.error = consoleError;
    }
    expect(reported).toEqual([]);
    expect(element.textContent).toBe('42');
    await act(async () => root?.unmount());
    element.remove();
    live.stop();
    idle.stop();
  });
});

/** A Model whose data is the last message (as the harness's), on its own. */
function lastMessage(): Model<Data, Data> {
  let data: Data = {};
  return { update: (message) => void (data = message), getData: () => data };
}

describe('useChannel and handles', () => {
  it('leaves a handle that code outside React also took (before or while the hooks held it) subscribed after the last hook unmounts', async () => {
    const { h, wrap, start } = setup();
    function Notes() {
      return <span>{useChannel('notes').status.state}</span>;
    }
    const view = render(wrap(<Notes />));
    const socket = await start();
    view.rerender(wrap(null));
    await settle();
    // a channel the hooks subscribed: they unsubscribe it
    expect(written(socket)).toEqual(['hello', 'subscribe notes', 'unsubscribe notes']);
    view.unmount();

    // a connection the test owns, a handle held before the hooks take it
    const connection = createConnection(h.options() as never);
    const outside = connection.channel('notes');
    const second = h.sockets.latest;
    act(() => {
      second.open();
      second.receive({ type: 'welcome', v: 2, client: 'c2', user: null, maxMessageBytes: 1_048_576, time: 1_000 });
    });
    const again = render(
      <ConnectionProvider connection={connection}>
        <Notes />
      </ConnectionProvider>,
    );
    await settle();
    again.unmount();
    await settle();
    expect(written(second)).toEqual(['hello', 'subscribe notes']);
    expect(outside.getStatus().state).not.toBe('ended');
    outside.unsubscribe();
    await settle();

    // taken by outside code while the hooks hold it: it goes on too
    const third = render(
      <ConnectionProvider connection={connection}>
        <Notes />
      </ConnectionProvider>,
    );
    await settle();
    const taken = connection.channel('notes');
    third.unmount();
    await settle();
    expect(written(second)).toEqual(['hello', 'subscribe notes', 'unsubscribe notes', 'subscribe notes']);
    expect(taken.getStatus().state).not.toBe('ended');
    connection.stop();
  });

  it('send() and changes() after unmount return rejected promises with ERR_NOT_SUBSCRIBED, never throw', async () => {
    const { wrap, start } = setup();
    let notes: UseChannelResult | null = null;
    function Notes() {
      notes = useChannel('notes');
      return null;
    }
    const view = render(wrap(<Notes />));
    await start();
    const result = notes as unknown as UseChannelResult;
    expect(result.channel).not.toBeNull();
    view.rerender(wrap(null));
    await settle();
    let settled: Promise<PromiseSettledResult<unknown>[]> | null = null;
    expect(() => {
      settled = Promise.allSettled([result.send({ set: { a: 1 } }), result.changes()]);
    }).not.toThrow();
    const [sent, page] = await settled!;
    expect(sent).toMatchObject({ status: 'rejected', reason: { code: 'ERR_NOT_SUBSCRIBED' } });
    expect(page).toMatchObject({ status: 'rejected', reason: { code: 'ERR_NOT_SUBSCRIBED' } });
    view.unmount();
  });
});

describe('errors as `error`', () => {
  it('reports a throwing isEqual at every render, an inline selector too, and keeps the last good value', async () => {
    const h = harness();
    const options = h.options();
    const shown: Array<ModelSelection<unknown>> = [];
    let throwing = false;
    const isEqual = (a: unknown, b: unknown) => {
      if (throwing) throw new Error('isEqual broke');
      return a === b;
    };
    function Price({ tick }: { tick: number }) {
      const selection = useModel(useConnection(), (data) => (data as Data)['btc'], isEqual);
      shown.push(selection);
      return <i>{tick}</i>;
    }
    const view = render(
      <ConnectionProvider options={options}>
        <Price tick={0} />
      </ConnectionProvider>,
    );
    await settle();
    act(() => {
      h.sockets.latest.open();
      h.sockets.latest.receive({ btc: 1 });
    });
    h.frame();
    expect(shown.at(-1)).toEqual({ value: 1, error: null });
    throwing = true;
    act(() => h.sockets.latest.receive({ btc: 2 }));
    h.frame();
    expect(shown.at(-1)).toMatchObject({ value: 1, error: { message: 'isEqual broke' } });
    for (const tick of [1, 2]) {
      view.rerender(
        <ConnectionProvider options={options}>
          <Price tick={tick} />
        </ConnectionProvider>,
      );
      expect(shown.at(-1)).toMatchObject({ value: 1, error: { message: 'isEqual broke' } });
    }
    throwing = false;
    view.rerender(
      <ConnectionProvider options={options}>
        <Price tick={3} />
      </ConnectionProvider>,
    );
    expect(shown.at(-1)).toEqual({ value: 2, error: null });
    view.unmount();
  });

  it("reports a Model's throwing getData as `error`, not to the error boundary", async () => {
    const h = harness();
    let broken = false;
    const model: Model<Data, Data> = {
      update: () => {},
      getData: () => {
        if (broken) throw new Error('getData broke');
        return { btc: 1 };
      },
    };
    const shown: Array<ModelSelection<unknown>> = [];
    function Price() {
      const selection = useModel(useConnection(), (data) => (data as Data)['btc']);
      shown.push(selection);
      return <i>{String(selection.value)}</i>;
    }
    const view = render(
      <Catch>
        <ConnectionProvider options={h.options({ model })}>
          <Price />
        </ConnectionProvider>
      </Catch>,
    );
    await settle();
    expect(view.container.textContent).toBe('1');
    broken = true;
    act(() => {
      h.sockets.latest.open();
      h.sockets.latest.receive({ any: 1 });
    });
    h.frame();
    expect(view.container.textContent).toBe('1');
    expect(shown.at(-1)).toMatchObject({ value: 1, error: { message: 'getData broke' } });
    view.unmount();
  });
});
