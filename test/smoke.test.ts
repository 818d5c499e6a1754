import { describe, expect, it } from 'vitest';
import { createTestConnection } from '../src/testing/index.js';

describe('smoke', () => {
  it('connects, receives and renders', () => {
    const renders: unknown[] = [];
    const t = createTestConnection({ view: { render: (d, s) => renders.push([d, s.state]) } });
    expect(t.connection.getStatus().state).toBe('connecting');
    t.open();
    expect(t.connection.getStatus().state).toBe('open');
    t.socket.receive({ type: 'snapshot', data: { a: 1 } });
    t.advance(16);
    expect(renders.at(-1)).toEqual([{ a: 1 }, 'open']);
    t.socket.drop();
    expect(t.connection.getStatus().state).toBe('errored');
    console.log(t.connection.getStatus(), t.connection.history);
    t.advance(10000);
    expect(t.connection.getStatus().state).toBe('connecting');
    t.connection.stop();
    expect(t.clock.pendingTimers).toBe(0);
  });
});
