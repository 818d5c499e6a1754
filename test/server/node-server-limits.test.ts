/**
 * The value and size limits of `startSyncServer` (issue 11): their options, the
 * feed and the control route under the data limit, and data files the limits
 * refuse. Real servers on 127.0.0.1 and port 0, closed after each test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { descriptorWarning, openFilesSoftLimit } from '../../src/server/admission.js';
import { DataFileError } from '../../src/server/data-file.js';
import { DEFAULT_SERVER_OPTIONS, SERVER_LIMITS, resolveServerOptions, type NodeServerOptions } from '../../src/server/server-options.js';
import { startSyncServer, type RunningServer } from '../../src/server/start.js';
import { onCleanup, withTimeout } from '../support/cleanup.js';
import { control } from '../integration/server-process.js';

async function serve(options: NodeServerOptions = {}): Promise<RunningServer> {
  const server = await startSyncServer({ control: true, host: '127.0.0.1', port: 0, ...options });
  onCleanup(() => server.close());
  return server;
}

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-limits-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'data.json');
}

async function postChange(server: RunningServer, body: unknown): Promise<{ status: number; error?: string }> {
  const response = await withTimeout(control(server, 'change', body), 'the answer to POST /control/change');
  return { status: response.status, ...((await response.json()) as { error?: string }) };
}

describe('limit options', () => {
  it('defaults to depth 64, 256 KiB per op and 1 MiB - 1 KiB per document', () => {
    expect(DEFAULT_SERVER_OPTIONS).toMatchObject({ maxValueDepth: 64, maxOpBytes: 262_144, maxDataBytes: 1_047_552 });
    expect(resolveServerOptions({})).toMatchObject({ maxValueDepth: 64, maxOpBytes: 262_144, maxDataBytes: 1_047_552 });
  });

  it.each([
    [{ maxValueDepth: 0 }, RangeError, /maxValueDepth must be a whole number from 1 to 1000; received 0/],
    [{ maxValueDepth: 5_000 }, RangeError, /maxValueDepth must be a whole number from 1 to 1000/],
    [{ maxOpBytes: 1.5 }, RangeError, /maxOpBytes must be a whole number/],
    [{ maxDataBytes: '1' }, TypeError, /maxDataBytes must be a number/],
  ])('refuses %o naming the option', (options, type, message) => {
    expect(() => resolveServerOptions(options as NodeServerOptions)).toThrow(type);
    expect(() => resolveServerOptions(options as NodeServerOptions)).toThrow(message);
  });
});

describe('the data limit', () => {
  it('refuses a control change that would pass it with 400 and ERR_DATA_LIMIT', async () => {
    const server = await serve({ maxDataBytes: 50 });
    expect((await postChange(server, { set: { a: 'x'.repeat(30) } })).status).toBe(200);
    const refused = await postChange(server, { set: { b: 'x'.repeat(30) } });
    expect(refused).toMatchObject({ status: 400, error: expect.stringMatching(/^ERR_DATA_LIMIT: .*over maxDataBytes \(50\)/) });
    expect(server.core.data()).toEqual({ a: 'x'.repeat(30) });
  });

  it('skips (and counts) feed changes that would pass it, and keeps running', async () => {
    // {"BTC-USD":64000} alone is 19 bytes: room for one or two symbols, not six
    // The feed's timer on a fake clock: a second of ticks runs at once, no waiting.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    onCleanup(() => {
      vi.useRealTimers();
    });
    const server = await serve({ maxDataBytes: 40, feedRatePerSec: 200 });
    vi.advanceTimersByTime(1_000);
    // A feed change counts once its append resolved (a promise: engine.ts).
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.stats().feedChanges + server.stats().feedRefused).toBe(200);
    expect(server.stats().feedRefused).toBeGreaterThan(0);
    expect(server.core.dataBytes).toBeLessThanOrEqual(40);
  });
});

describe('slow consumers', () => {
  it('counts each waiting frame 256 bytes over its size (frames held by a stall here)', async () => {
    const server = await serve({ maxBufferedBytes: 1_000 });
    const client = new WebSocket(server.url);
    onCleanup(() => client.terminate());
    const snapshot = new Promise((resolve) => client.once('message', resolve));
    const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    client.once('open', () => client.send('{"type":"hello","v":1}'));
    await withTimeout(snapshot, 'the snapshot');
    expect((await withTimeout(control(server, 'stall?ms=100', undefined), 'the stall')).status).toBe(200);
    // Three patches of 64 bytes: 192 bytes alone, 960 with the overhead, 1,280 with a fourth.
    for (let i = 0; i < 3; i++) server.core.change({ set: { [`k${i}`]: i } });
    expect(server.stats().slowConsumers).toBe(0);
    server.core.change({ set: { k3: 3 } });
    expect(server.stats().slowConsumers).toBe(1);
    expect(await withTimeout(closed, 'the close')).toBe(1013);
  });
});

describe('data files the limits refuse', () => {
  it('does not start from a file holding a value deeper than maxValueDepth, and names the limit', async () => {
    const file = tempFile();
    writeFileSync(file, JSON.stringify({ data: { deep: [[[[1]]]] }, appliedOpIds: [] }));
    const starting = startSyncServer({ control: true, host: '127.0.0.1', port: 0, dataFile: file, maxValueDepth: 3 });
    await expect(starting).rejects.toThrow(DataFileError);
    await expect(starting).rejects.toThrow(/data\."deep"\[0\]\[0\]\[0\] nests deeper than maxValueDepth \(3.*--max-value-depth/);
  });

  it('does not start from a file over maxDataBytes (its snapshots would be over what clients accept), and says what to do', async () => {
    const file = tempFile();
    writeFileSync(file, JSON.stringify({ data: { big: 'x'.repeat(100) }, appliedOpIds: [] }));
    const starting = startSyncServer({ control: true, host: '127.0.0.1', port: 0, dataFile: file, maxDataBytes: 50 });
    await expect(starting).rejects.toThrow(DataFileError);
    await expect(starting).rejects.toThrow(/holds 110 bytes of data as JSON, over --max-data-bytes \(50\).*Raise --max-data-bytes .* or shrink the file/);
  });
});

describe('sockets before the upgrade', () => {
  /** A raw TCP socket from `localAddress` that sends part of an upgrade request's headers and then nothing. */
  function halfSent(server: RunningServer, localAddress = '127.0.0.1') {
    const socket = connect({ port: server.port, host: '127.0.0.1', localAddress });
    onCleanup(() => {
      socket.destroy();
    });
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\n`);
    return { socket, closed };
  }

  /** Polls a server-side condition on the event loop (setImmediate, not a sleep). */
  const until = (condition: () => boolean, what: string) =>
    withTimeout(
      (async () => {
        while (!condition()) await new Promise((resolve) => setImmediate(resolve));
      })(),
      what,
    );

  it(`caps them per address at ${SERVER_LIMITS.unupgradedSocketsPerAddress} whatever maxConnectionsPerAddress says (default 1000), destroying one more on arrival`, async () => {
    const server = await serve({ maxConnections: 100 }); // a total above the per-address cap
    const held = Array.from({ length: SERVER_LIMITS.unupgradedSocketsPerAddress }, () => halfSent(server));
    await until(() => server.stats().unupgraded === held.length, 'the server to count the half-sent requests');
    const over = halfSent(server);
    await withTimeout(over.closed, 'the server to destroy the socket over the cap');
    expect(server.stats()).toMatchObject({ socketsRefused: 1, unupgraded: held.length });
    // Another address is not held back by this one.
    const other = halfSent(server, '127.0.0.2');
    await until(() => server.stats().unupgraded === held.length + 1, 'the other address to be counted');
    other.socket.destroy();
    // One leaving makes room; a socket that upgrades leaves the count and counts as a WebSocket instead.
    held[0]!.socket.destroy();
    await until(() => server.stats().unupgraded === held.length - 1, 'the server to see it leave');
    const ws = new WebSocket(server.url);
    onCleanup(() => ws.terminate());
    await withTimeout(new Promise((resolve) => ws.once('open', resolve)), 'a WebSocket from the same address to open');
    await until(() => server.stats().open === 1 && server.stats().unupgraded === held.length - 1, 'the upgrade to move it out of the count');
  });

  it(`caps them in total at max(maxConnections, ${SERVER_LIMITS.minUnupgradedSockets})`, async () => {
    const server = await serve({ maxConnections: 1, maxConnectionsPerAddress: 1 });
    const perAddress = SERVER_LIMITS.unupgradedSocketsPerAddress;
    const addresses = SERVER_LIMITS.minUnupgradedSockets / perAddress;
    for (let a = 0; a < addresses; a++) for (let i = 0; i < perAddress; i++) halfSent(server, `127.0.1.${a + 1}`);
    await until(() => server.stats().unupgraded === SERVER_LIMITS.minUnupgradedSockets, 'the server to count them all');
    const over = halfSent(server, '127.0.2.1');
    await withTimeout(over.closed, 'the server to destroy the socket over the total cap');
    expect(server.stats().socketsRefused).toBe(1);
  });

  it('answers a request whose headers do not arrive within the hello deadline (floored at 1 s) with 408, and closes it', async () => {
    // Node's headersTimeout runs on the wall clock; without it the socket stayed open for 60 s.
    const server = await serve({ helloTimeoutMs: 1 });
    const { closed } = halfSent(server);
    expect(await withTimeout(closed, 'the server to close the half-sent request')).toMatch(/^HTTP\/1\.1 408 /);
    await until(() => server.stats().unupgraded === 0, 'the server to forget the socket');
  });
});

describe('the open-files limit at start', () => {
  const limits = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max cpu time              unlimited            unlimited            seconds   ',
    'Max open files            1024                 1048576              files     ',
    'Max locked memory         8388608              8388608              bytes     ',
  ].join('\n');

  it('reads the soft limit from /proc/self/limits, and nothing from a missing or unlimited row', () => {
    expect(openFilesSoftLimit(limits)).toBe(1024);
    expect(openFilesSoftLimit(limits.replace('1024 ', 'unlimited'))).toBeUndefined();
    expect(openFilesSoftLimit('Max cpu time  unlimited  unlimited  seconds')).toBeUndefined();
  });

  it('warns in one short line when --max-connections plus the sockets not yet upgraded exceed it, naming the need', () => {
    const warning = descriptorWarning(DEFAULT_SERVER_OPTIONS.maxConnections, 1024);
    // The details are in docs/cli.md: the default start with ulimit -n 1024 printed four terminal lines.
    expect(warning).toBe('warning: ulimit -n 1024 is too low for --max-connections 10000 (needs 20032; see docs/cli.md)');
    expect(warning!.length).toBeLessThanOrEqual(100);
    expect(descriptorWarning(496, 1024)).toBeUndefined();
    expect(descriptorWarning(497, 1024)).toBeDefined();
    expect(descriptorWarning(10_000, undefined)).toBeUndefined();
  });
});
