// @vitest-environment jsdom
/**
 * What re-renders: useConnectionStatus only for the fields a badge shows (never a counter),
 * useModel only when the selected value changes, at most once per frame under a flood; a
 * throwing selector gives `error` and keeps the last good value.
 */
import { StrictMode } from 'react';
import { act, cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection, ConnectionStatus, Model } from '../../src/index.js';
import { useConnection, useConnectionStatus, useModel } from '../../src/react/index.js';
import { harness, settle, type Data } from './harness.js';

afterEach(cleanup);

describe('useConnectionStatus', () => {
  it('re-renders for the state, the attempt, the retry time and the error, never for a counter', async () => {
    const h = harness();
    const statuses: ConnectionStatus[] = [];
    function Badge() {
      const connection = useConnection(h.options());
      statuses.push(useConnectionStatus(connection));
      return null;
    }
    render(<Badge />);
    await settle();
    act(() => h.sockets.latest.open());
    expect(statuses.at(-1)?.state).toBe('open');
    const count = statuses.length;
    // messages move counters.received (and a frame counters.renders): nothing the badge shows
    act(() => {
      for (let i = 0; i < 50; i += 1) h.sockets.latest.receive({ i });
    });
    h.frame();
    expect(statuses).toHaveLength(count);
    // a drop: errored with an error, an attempt and a retry time; then connecting
    act(() => h.sockets.latest.drop());
    const errored = statuses.at(-1);
    expect(errored).toMatchObject({ state: 'errored', lastError: { code: 'ERR_ABNORMAL_CLOSE' } });
    expect(errored?.nextRetryAt).toEqual(expect.any(Number));
    act(() => h.clock.advance(errored?.nextDelayMs ?? 0));
    expect(statuses.at(-1)?.state).toBe('connecting');
    expect(statuses.map((status) => status.state).slice(count)).toEqual(['errored', 'connecting']);
  });
});

describe('useModel', () => {
  it('re-renders a component that selects one key only when that key changes, once per frame', async () => {
    const h = harness();
    const renders = { a: 0, all: 0 };
    const shown: unknown[] = [];
    type Props = { connection: Connection<Model<Data, Data>, unknown> };
    function A({ connection }: Props) {
      renders.a += 1;
      const { value } = useModel(connection, (data) => data['a']);
      shown.push(value);
      return null;
    }
    function All({ connection }: Props) {
      renders.all += 1;
      useModel(connection);
      return null;
    }
    // siblings: App itself renders only once (it reads no data)
    function App() {
      const connection = useConnection(h.options());
      return (
        <>
          <All connection={connection} />
          <A connection={connection} />
        </>
      );
    }
    render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    await settle();
    act(() => h.sockets.latest.open());
    const start = { ...renders };
    // a flood within one frame: one render of the whole-data component, at the frame
    act(() => {
      for (let i = 0; i < 100; i += 1) h.sockets.latest.receive({ a: 1, b: i });
    });
    expect(renders).toEqual(start);
    h.frame();
    // StrictMode renders each component twice per render
    expect(renders.all - start.all).toBe(2);
    expect(renders.a - start.a).toBe(2);
    expect(shown.at(-1)).toBe(1);
    // another key changes: A does not render
    const before = { ...renders };
    act(() => h.sockets.latest.receive({ a: 1, b: 'other' }));
    h.frame();
    expect(renders.a).toBe(before.a);
    // no message, no render at the next frames
    const idle = { ...renders };
    h.frame();
    h.frame();
    expect(renders).toEqual(idle);
  });

  it('compares with isEqual', async () => {
    const h = harness();
    let renders = 0;
    function App() {
      const connection = useConnection(h.options());
      useModel(connection, (data) => Object.keys(data as Data), (x, y) => x.join() === y.join());
      renders += 1;
      return null;
    }
    render(<App />);
    await settle();
    act(() => h.sockets.latest.open());
    act(() => h.sockets.latest.receive({ a: 1 }));
    h.frame();
    const count = renders;
    act(() => h.sockets.latest.receive({ a: 2 }));
    h.frame();
    expect(renders).toBe(count);
    act(() => h.sockets.latest.receive({ b: 2 }));
    h.frame();
    expect(renders).toBe(count + 1);
  });

  it('gives a throwing selector as error and keeps the last good value, without crashing', async () => {
    const h = harness();
    const results: Array<{ value: unknown; error: unknown }> = [];
    function App() {
      const connection = useConnection(h.options());
      results.push(
        useModel(connection, (data) => {
          const value = (data as Data)['n'];
          if (typeof value !== 'number') throw new Error(`n is ${typeof value}`);
          return value;
        }),
      );
      return null;
    }
    render(<App />);
    // the first read throws: no good value yet
    expect(results.at(-1)?.value).toBeUndefined();
    expect(String(results.at(-1)?.error)).toMatch(/n is undefined/);
    await settle();
    act(() => h.sockets.latest.open());
    act(() => h.sockets.latest.receive({ n: 7 }));
    h.frame();
    expect(results.at(-1)).toEqual({ value: 7, error: null });
    act(() => h.sockets.latest.receive({ n: 'x' }));
    h.frame();
    expect(results.at(-1)?.value).toBe(7);
    expect(String(results.at(-1)?.error)).toMatch(/n is string/);
    act(() => h.sockets.latest.receive({ n: 8 }));
    h.frame();
    expect(results.at(-1)).toEqual({ value: 8, error: null });
  });
});
