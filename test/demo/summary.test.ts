import { describe, expect, it } from 'vitest';
import { caughtUp, summaryLine, untilCaughtUp } from '../../scripts/demo/summary.js';

function fakeClient(position: { epoch: string; seq: number } | null, data: Record<string, unknown>) {
  return {
    model: { position: () => position, getData: () => data },
    history: [{ state: 'idle' }, { state: 'connecting' }, { state: 'open' }, { state: 'closed' }],
    getStatus: () => ({ counters: { received: 80, rejected: 0, sent: 1, renders: 70, reconnects: 0 } }),
  } as unknown as Parameters<typeof summaryLine>[0];
}

function fakeServer(seq: number, data: Record<string, unknown>) {
  return { core: { epoch: 'e1', seq, data: () => data } };
}

describe('demo summary', () => {
  it('says the model equals the data when both are at the same seq', () => {
    const line = summaryLine(fakeClient({ epoch: 'e1', seq: 80 }, { b: 2, a: 1 }), fakeServer(80, { a: 1, b: 2 }));
    expect(line).toBe(
      'summary: idle → connecting → open → closed · received 80, rejected 0, sent 1, renders 70, reconnects 0 · model equals the server\'s data at seq 80',
    );
  });

  it('does not call a model one patch behind different: it says where each stands', () => {
    const line = summaryLine(fakeClient({ epoch: 'e1', seq: 79 }, { a: 1 }), fakeServer(80, { a: 2 }));
    expect(line).toMatch(/· model is at seq 79, behind the server's seq 80 \(not compared\)$/);
    expect(line).not.toContain('DIFFERS');
  });

  it('reports a real difference at the same seq', () => {
    expect(summaryLine(fakeClient({ epoch: 'e1', seq: 80 }, { a: 1 }), fakeServer(80, { a: 2 }))).toMatch(/model DIFFERS FROM the server's data at seq 80$/);
  });

  it('is not caught up on another epoch or without a position', () => {
    expect(caughtUp(fakeClient({ epoch: 'e0', seq: 80 }, {}), fakeServer(80, {}))).toBe(false);
    expect(caughtUp(fakeClient(null, {}), fakeServer(0, {}))).toBe(false);
  });

  it('resolves at once when already caught up', async () => {
    await untilCaughtUp(fakeClient({ epoch: 'e1', seq: 3 }, {}), fakeServer(3, {}), 60_000);
  });
});
