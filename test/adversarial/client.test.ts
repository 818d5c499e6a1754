/**
 * The scripted client (`scripts/client.ts`) as a real process against a
 * hand-made hostile server on 127.0.0.1: a value nested 100,000 levels deep
 * made both views throw `RangeError: Maximum call stack size exceeded` from
 * `JSON.stringify` inside `view.render`, and the process died (issue 11,
 * item 8). The reference server refuses such values now, so a bare `ws`
 * server sends it here.
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { onCleanup, withTimeout } from '../support/cleanup.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPTH = 100_000;
/** Generous bounds for a child process on a busy 2-core machine; never timing assertions. */
const PROCESS_BOUND_MS = 30_000;

/**
 * A sync-protocol server (version 2, the client's default: its `default`
 * channel) that answers every hello with a 100,000-deep snapshot, then sends a
 * small patch every 100 ms (at most 300): the plain view prints a model line at
 * most once a second, on a render.
 */
async function hostileServer(): Promise<string> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await withTimeout(new Promise((resolve) => server.once('listening', resolve)), 'the server to listen');
  const deep = `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`;
  server.on('connection', (socket) => {
    socket.once('message', () => {
      socket.send(`{"type":"snapshot","channel":"default","epoch":"e","seq":1,"data":{"deep":${deep}}}`);
      let seq = 1;
      const feed = setInterval(() => {
        seq++;
        socket.send(JSON.stringify({ type: 'patch', channel: 'default', epoch: 'e', seq, set: { alive: seq } }));
        if (seq > 300) clearInterval(feed);
      }, 100);
      socket.once('close', () => clearInterval(feed));
      timers.push(feed);
    });
  });
  const timers: NodeJS.Timeout[] = [];
  onCleanup(() => timers.forEach((timer) => clearInterval(timer)));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  );
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

interface Run {
  output: () => string;
  waitFor: (text: string) => Promise<void>;
  exited: Promise<number | null>;
  signal: (name: NodeJS.Signals) => void;
}

/** Starts a process, collects stdout and stderr, and kills it after the test if it is still running. */
function run(command: string, args: string[]): Run {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let output = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of [...waiters]) {
      if (output.includes(waiter.text)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    output: () => output,
    waitFor: (text) =>
      withTimeout(
        new Promise<void>((resolve) => {
          if (output.includes(text)) resolve();
          else waiters.push({ text, resolve });
        }),
        `${JSON.stringify(text)} in the output:\n${output.slice(-2000)}`,
        PROCESS_BOUND_MS,
      ),
    exited,
    signal: (name) => child.kill(name),
  };
}

describe('the scripted client against a 100,000-deep value', () => {
  it('keeps running with the plain view and prints a truncated rendering', async () => {
    const url = await hostileServer();
    const client = run(process.execPath, ['--import', 'tsx', 'scripts/client.ts', '--url', url]);
    // patches after the deep snapshot are applied and shown: the process survived the renders
    await client.waitFor('2 keys: alive=');
    client.signal('SIGINT');
    expect(await withTimeout(client.exited, 'the client to exit', PROCESS_BOUND_MS)).toBe(0);
    const output = client.output();
    expect(output).not.toContain('RangeError');
    expect(output).not.toContain('Maximum call stack');
    // the value is cut after 8 levels and marked, not printed 200 KB wide
    expect(output).toContain('deep=[[[[[[[[[…]]]]]]]]]');
    expect(output.length).toBeLessThan(20_000);
  });

  it('keeps running with the TTY view (under a pseudo-terminal) and draws a truncated rendering', async () => {
    const url = await hostileServer();
    // `script` gives the client a pseudo-terminal (sized with stty: a new one has 0 columns), so it draws the full-screen view
    const command = `stty cols 160 rows 40; ${process.execPath} --import tsx scripts/client.ts --url ${url} --duration 3`;
    const client = run('script', ['-qfec', command, '/dev/null']);
    await client.waitFor('alive');
    await client.waitFor('summary:');
    expect(await withTimeout(client.exited, 'the client to exit', PROCESS_BOUND_MS)).toBe(0);
    const output = client.output();
    expect(output).not.toContain('RangeError');
    expect(output).toContain('[[[[[[[[[…]]]]]]]]]');
  });
});
