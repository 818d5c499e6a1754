/**
 * The sync logic judges tokens with the constant-time comparison (issue 11,
 * item 7: it used `!==`, whose time leaks how much of a guess was right).
 * Timing cannot be asserted without thresholds, so this checks the wiring:
 * every token, from the URL or the hello, goes through `tokensEqual`.
 */
import { describe, expect, it, vi } from 'vitest';

const calls = vi.hoisted(() => [] as Array<[string, string]>);
vi.mock('../../src/server/token-equal.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/server/token-equal.js')>();
  return {
    tokensEqual: (presented: string, expected: string) => {
      calls.push([presented, expected]);
      return real.tokensEqual(presented, expected);
    },
  };
});

const { createSyncServer } = await import('../../src/server/sync-server.js');

function peer() {
  const closes: Array<[number, string]> = [];
  return { closes, send: () => {}, close: (code: number, reason: string) => closes.push([code, reason]), bufferedAmount: 0 };
}

describe('token comparison', () => {
  it('compares the URL token and the hello token with tokensEqual', () => {
    const server = createSyncServer({ token: 's3cret' });
    const byUrl = peer();
    const outcomes: boolean[] = [];
    server.connect(byUrl, { urlToken: 'guess', onAuthenticated: (ok) => outcomes.push(ok) });
    const byHello = peer();
    server.connect(byHello, { onAuthenticated: (ok) => outcomes.push(ok) }).receive(JSON.stringify({ type: 'hello', v: 1, token: 's3cret' }));
    expect(calls).toEqual([
      ['guess', 's3cret'],
      ['s3cret', 's3cret'],
    ]);
    expect(outcomes).toEqual([false, true]);
    expect(byUrl.closes).toEqual([[4401, 'invalid token']]);
    expect(byHello.closes).toEqual([]);
  });
});
