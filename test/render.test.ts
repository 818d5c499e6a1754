import { describe, expect, it } from 'vitest';
import type { ConnectionStatus } from '../src/types.js';
import { createTestConnection } from '../src/testing/index.js';

function recorder() {
  const renders: Array<{ data: unknown; status: ConnectionStatus }> = [];
  return { renders, view: { render: (data: unknown, status: ConnectionStatus) => renders.push({ data, status }) } };
}

describe('render coalescing', () => {
  it('renders once per frame with the latest data, however many messages came', () => {
    const { renders, view } = recorder();
    const t = createTestConnection({ view });
    t.open();
    t.advance(16);
    renders.length = 0;
    for (let i = 0; i < 5000; i++) t.socket.receive({ type: 'patch', set: { n: i } });
    expect(renders).toHaveLength(0);
    t.advance(16);
    expect(renders).toHaveLength(1);
    expect(renders[0]?.data).toEqual({ n: 4999 });
    expect(t.connection.model.getData()).toEqual({ n: 4999 });
    t.connection.stop();
  });

  it('renders on a state transition so the view can show the retry countdown', () => {
    const { renders, view } = recorder();
    const t = createTestConnection({ view, random: () => 0.5 });
    t.open();
    t.advance(16);
    t.socket.drop();
    t.advance(16);
    expect(renders.at(-1)?.status).toMatchObject({ state: 'errored', nextRetryAt: 16 + 250 });
    t.connection.stop();
  });

  it('counts renders in the status', () => {
    const { view } = recorder();
    const t = createTestConnection({ view });
    t.open();
    t.advance(16);
    t.socket.receive({ type: 'patch', set: { a: 1 } });
    t.advance(16);
    expect(t.connection.getStatus().counters.renders).toBe(2);
    t.connection.stop();
  });

  it('uses the injected scheduler', () => {
    const pending: Array<() => void> = [];
    const { renders, view } = recorder();
    const t = createTestConnection({ view, schedule: (flush) => (pending.push(flush), () => {}) });
    t.open();
    t.socket.receive({ type: 'patch', set: { a: 1 } });
    expect(pending).toHaveLength(1);
    pending.shift()?.();
    expect(renders).toHaveLength(1);
    t.connection.stop();
  });

  it('renders a status-only change (a queued send) and does not loop on its own render count', () => {
    const { renders, view } = recorder();
    const t = createTestConnection({ view });
    t.advance(16);
    const before = renders.length;
    t.connection.send({ queued: true });
    t.advance(16);
    expect(renders).toHaveLength(before + 1);
    expect(renders.at(-1)?.status.outboxSize).toBe(1);
    t.advance(1_000);
    expect(renders).toHaveLength(before + 1);
    t.connection.stop();
  });

  it('reports what a parked machine waits for', () => {
    const t = createTestConnection();
    t.open();
    t.connection.setOnline(false);
    expect(t.connection.getStatus().parked).toBe('offline');
    t.connection.setOnline(true);
    expect(t.connection.getStatus().parked).toBeNull();
    t.connection.stop();
  });

  it('lists the outbox', () => {
    const t = createTestConnection();
    t.connection.send('a');
    expect(t.connection.getOutbox().map((entry) => entry.frame)).toEqual(['a']);
    t.connection.stop();
  });
});
