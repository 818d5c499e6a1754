import { describe, expect, it } from 'vitest';
import type { ConnectionStatus } from '../../src/types.js';
import {
  aggregate,
  aggregateTerminal,
  createLinePrinter,
  frameToAnsi,
  renderAggregateFrame,
  renderFrame,
  statusLine,
  terminalView,
  truncate,
} from '../../scripts/client/terminal-view.js';
import { formatCountdown } from '../../src/views/preview.js';
import { makeStatus } from '../support/status.js';

function status(overrides: Partial<ConnectionStatus> = {}): ConnectionStatus {
  return makeStatus({ url: 'ws://127.0.0.1:8080/', counters: { received: 12, rejected: 1, sent: 3, renders: 4, reconnects: 2, dropped: 0, callbackErrors: 0 }, ...overrides });
}

const errored = status({
  state: 'errored',
  attempt: 2,
  nextRetryAt: 11_260,
  nextDelayMs: 1_260,
  lastError: { code: 'ERR_ABNORMAL_CLOSE', closeCode: 1006 },
});

describe('status line', () => {
  it('shows state and attempt while open', () => {
    expect(statusLine(status(), 0)).toBe('state open · attempt 0');
  });

  it('shows the retry countdown, rounded, and the error while waiting', () => {
    expect(statusLine(errored, 10_000)).toBe('state errored · attempt 2 · retry in 1.3 s · ERR_ABNORMAL_CLOSE (close 1006)');
  });

  it.each([
    [0, '0.0 s'],
    [49, '0.0 s'],
    [1_260, '1.3 s'],
    [9_940, '9.9 s'],
    [12_400, '12 s'],
    [-50, '0.0 s'],
  ])('counts %d ms down as %s', (ms, text) => {
    expect(formatCountdown(ms)).toBe(text);
  });
});

describe('terminal frame', () => {
  it('shows status, counters and the model as a sorted table', () => {
    // 80 columns hold the whole counters line for everyday numbers.
    const lines = renderFrame({ data: { b: 2, a: 'one', c: { deep: [1] } }, status: status(), now: 0, columns: 80, rows: 24 });
    expect(lines).toEqual([
      'state open · attempt 0',
      'received 12 · rejected 1 · sent 3 · renders 4 · reconnects 2 · outbox 0',
      '─'.repeat(79),
      'a    "one"',
      'b    2',
      'c    {"deep":[1]}',
    ]);
  });

  it('cuts the table to the terminal height and says how many keys did not fit', () => {
    const data = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${String(i).padStart(2, '0')}`, i]));
    const lines = renderFrame({ data, status: status(), now: 0, columns: 40, rows: 10, title: 'statesocket client' });
    expect(lines).toHaveLength(9);
    expect(lines.slice(0, 2)).toEqual(['statesocket client', 'state open · attempt 0']);
    expect(lines.slice(4)).toEqual(['k00  0', 'k01  1', 'k02  2', 'k03  3', '… 16 more keys (20 in all)']);
  });

  it('cuts every line to the terminal width so none wraps', () => {
    const lines = renderFrame({
      data: { 'a-rather-long-key-name-indeed': 'x'.repeat(100) },
      status: errored,
      now: 10_000,
      columns: 30,
      rows: 10,
    });
    expect(lines).toEqual([
      'state errored · attempt 2 · …',
      'received 12 · rejected 1 · s…',
      '─'.repeat(29),
      'a-rather-l…  "xxxxxxxxxxxxxx…',
    ]);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(29);
  });

  it('says so when the model is empty, and shows a message outside the model', () => {
    const lines = renderFrame({ data: {}, status: status(), now: 0, columns: 80, rows: 24, lastMessage: { tick: 3 } });
    expect(lines.slice(3)).toEqual(['(empty model)', 'last message {"tick":3}']);
  });

  it('colours through the style function, leaving the text intact', () => {
    const style = (format: string | string[], text: string) => `<${[format].flat().join('+')}>${text}</>`;
    const lines = renderFrame({ data: { a: 1 }, status: status(), now: 0, columns: 40, rows: 10, style });
    expect(lines[0]).toBe('state <bold+green>open</> · attempt 0');
    expect(lines[3]).toBe('<cyan>a  </>  1');
  });

  it('becomes one ANSI string that overwrites the last frame without clearing the screen', () => {
    expect(frameToAnsi(['one', 'two'])).toBe('\x1b[Hone\x1b[K\ntwo\x1b[K\n\x1b[J');
  });
});

describe('terminal view on a TTY', () => {
  function tty() {
    const writes: string[] = [];
    let now = 10_000;
    const view = terminalView({
      tty: true,
      write: (text) => writes.push(text),
      size: () => ({ columns: 60, rows: 10 }),
      now: () => now,
    });
    return { view, writes, tick: (ms: number) => (now += ms) };
  }

  it('clears once, then redraws in place only when the frame changed', () => {
    const { view, writes, tick } = tty();
    view.render({ a: 1 }, errored);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\x1b\[\?25l\x1b\[2J\x1b\[H/);
    view.refresh();
    expect(writes).toHaveLength(1); // nothing changed: nothing written
    tick(500);
    view.refresh(); // the countdown moved
    expect(writes).toHaveLength(2);
    expect(writes[1]).toMatch(/^\x1b\[H.*retry in 0\.8 s/);
    view.close();
    expect(writes.slice(2)).toEqual(['\x1b[?25h', '\n']);
    view.render({ a: 2 }, status());
    expect(writes).toHaveLength(4);
  });
});

describe('terminal view in plain mode', () => {
  it('prints one line per state change and a model line at most once per interval', () => {
    const lines: string[] = [];
    let now = 0;
    const view = terminalView({ tty: false, write: (text) => lines.push(text), now: () => now, modelEveryMs: 1000 });
    view.refresh(status({ state: 'connecting' }));
    view.render({}, status({ state: 'connecting' }));
    now = 100;
    view.refresh(status());
    view.render({ a: 1 }, status()); // within a second of the last model line
    now = 1200;
    view.render({ a: 2, b: 'x' }, status());
    view.render({ a: 3, b: 'x' }, status()); // same instant: no new line
    view.refresh(errored);
    expect(lines).toEqual([
      'state connecting · attempt 0\n',
      '  model empty · received 12\n',
      'state open · attempt 0\n',
      '  model 2 keys: a=2 b="x" · received 12\n',
      'state errored · attempt 2 · retry in 10 s · ERR_ABNORMAL_CLOSE (close 1006)\n',
    ]);
  });

  it('keeps a model line compact', () => {
    const printer = createLinePrinter({ width: 60 });
    const data = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`key${i}`, i * 1000]));
    const [, line] = printer.render(data, status(), 0);
    expect(line).toBe('  model 9 keys: key0=0 key1=1000 key2=2000 ke… · received 12');
    expect(line?.length).toBeLessThanOrEqual(60);
  });
});

describe('many connections', () => {
  const statuses = [status(), status(), errored, status({ state: 'connecting', counters: { ...status().counters, received: 0 } })];

  it('sums counters and counts connections by state', () => {
    expect(aggregate(statuses)).toEqual({
      connections: 4,
      byState: { idle: 0, connecting: 1, open: 2, errored: 1, closed: 0 },
      received: 36,
      rejected: 4,
      sent: 12,
      renders: 16,
      reconnects: 8,
      dropped: 0,
    });
  });

  it('draws counts by state instead of a model', () => {
    expect(renderAggregateFrame({ aggregate: aggregate(statuses), columns: 100 })).toEqual([
      'connections 4 · open 2 · connecting 1 · errored 1 · closed 0 · idle 0',
      'received 36 · rejected 4 · sent 12 · reconnects 8 · dropped 0',
    ]);
  });

  it('prints a plain line only when the counts by state change', () => {
    const lines: string[] = [];
    const display = aggregateTerminal({ tty: false, write: (text) => lines.push(text) });
    display.update(statuses);
    display.update(statuses);
    display.update(statuses.map(() => status()));
    expect(lines).toEqual([
      'connections 4 · open 2 · connecting 1 · errored 1 · closed 0 · idle 0 · received 36 · reconnects 8\n',
      'connections 4 · open 4 · connecting 0 · errored 0 · closed 0 · idle 0 · received 48 · reconnects 8\n',
    ]);
  });
});

describe('truncate', () => {
  it.each([
    ['abc', 5, 'abc'],
    ['abcdef', 5, 'abcd…'],
    ['abc', 1, '…'],
    ['abc', 0, ''],
  ])('%s to %d → %s', (text, width, expected) => {
    expect(truncate(text, width)).toBe(expected);
  });
});
