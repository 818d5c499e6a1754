import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isSendableCloseCode, shouldReconnect } from '../src/close-codes.js';
import { SERVER_CLOSE_CODES, closeOutcome } from '../src/server/close-codes.js';
import { SyncCloseCode } from '../src/sync/messages.js';
import { SyncCloseCodeV2 } from '../src/sync/messages-v2.js';
import { createTestConnection } from '../src/testing/index.js';

const close = (code: number) => ({ code, reason: '', wasClean: true });

describe('close codes', () => {
  it.each([1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014, 1015, 1004, 2000, 3001, 3999])(
    'reconnects after %i',
    (code) => expect(shouldReconnect(close(code))).toBe(true),
  );

  it.each([1002, 1003, 1007, 1008, 1009, 1010, 3000, 3003, 4000, 4401, 4403, 4999])(
    'treats %i as fatal',
    (code) => expect(shouldReconnect(close(code))).toBe(false),
  );

  it('treats 4409 as fatal, and 4419 as fatal unless the token can be refreshed', () => {
    expect(shouldReconnect(close(4409))).toBe(false);
    expect(shouldReconnect(close(4419))).toBe(false);
    expect(shouldReconnect({ ...close(4419), canRefreshToken: true })).toBe(true);
    expect(shouldReconnect({ ...close(4401), canRefreshToken: true })).toBe(false);
  });

  it.each([
    [1000, true],
    [3000, true],
    [4999, true],
    [999, false],
    [1001, false],
    [1006, false],
    [2999, false],
    [5000, false],
    [3000.5, false],
  ])('allows a client to send %d: %s', (code, allowed) => {
    expect(isSendableCloseCode(code)).toBe(allowed);
  });

  it('goes to closed and keeps the code on 4401', () => {
    const t = createTestConnection();
    t.open();
    t.socket.close(4401, 'bad token');
    const status = t.connection.getStatus();
    expect(status.state).toBe('closed');
    expect(status.lastError).toEqual({ code: 'ERR_FATAL_CLOSE', closeCode: 4401, message: 'bad token' });
    expect(status.lastClose).toEqual({ code: 4401, reason: 'bad token', wasClean: true });
    expect(t.clock.pendingTimers).toBe(0);
    t.connection.stop();
  });

  it('reconnects after a 1000 sent by the server (a deploy)', () => {
    const t = createTestConnection();
    t.open();
    t.socket.close(1000, 'deploy');
    expect(t.connection.getStatus()).toMatchObject({ state: 'errored', lastError: { code: 'ERR_ABNORMAL_CLOSE', closeCode: 1000 } });
    t.connection.stop();
  });

  // What the reference server sends (issue 11): 1013 for load and timing (slow consumer, connection caps,
  // hello deadline), 1011 when it could not complete (a failed data-file write). The status says which.
  it.each([
    [1013, 'slow consumer', 5000],
    [1013, 'too many connections from this address', 5000],
    [1013, 'no hello within the deadline', 5000],
    [1011, 'could not write the data file', 0],
  ])('reconnects after %i "%s", waiting at least %i ms, and keeps the reason in the status and history', (code, reason, atLeast) => {
    const t = createTestConnection({ random: () => 0 });
    t.open();
    t.socket.serverClose(code, reason);
    const status = t.connection.getStatus();
    expect(status).toMatchObject({
      state: 'errored',
      lastClose: { code, reason, wasClean: true },
      lastError: { code: 'ERR_ABNORMAL_CLOSE', closeCode: code, message: reason },
      nextDelayMs: atLeast,
    });
    expect(t.connection.history.at(-1)).toMatchObject({ state: 'errored', error: { code: 'ERR_ABNORMAL_CLOSE', closeCode: code, message: reason } });
    t.connection.stop();
  });

  it('lets the policy be replaced', () => {
    const t = createTestConnection({ reconnect: { shouldReconnect: ({ code }) => code === 4401 } });
    t.open();
    t.socket.close(4401, 'token expired: fetch a new one');
    expect(t.connection.getStatus().state).toBe('errored');
    t.connection.stop();
  });
});

describe('closes the reference server sends', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

  it.each(SERVER_CLOSE_CODES.map((row) => [row.code, row.client] as const))('%i: the client does what the table says (%s)', (code, outcome) => {
    expect(closeOutcome(code)).toBe(outcome);
  });

  it.each(Object.entries(SyncCloseCodeV2))('has a row for SyncCloseCodeV2.%s', (_name, code) => {
    expect(SERVER_CLOSE_CODES.map((row) => row.code)).toContain(code);
  });

  it.each(Object.entries(SyncCloseCode))('has a row for SyncCloseCode.%s', (_name, code) => {
    expect(SERVER_CLOSE_CODES.map((row) => row.code)).toContain(code);
  });

  it.each(SERVER_CLOSE_CODES.map((row) => row.code))('documents %i in the README', (code) => {
    expect(readme).toMatch(new RegExp(`^\\| ${code} \\| .+ \\| (reconnects|\`closed\`)`, 'm'));
  });
});
