/**
 * `npm run cluster` (scripts/cluster.ts) as a real process: prints the URL, serves through nginx,
 * stops everything on SIGTERM or after --duration (instances gone, nginx's directory removed), and
 * says how to get nginx or Redis when one is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { freePort } from '../../scripts/cluster/child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const runs: Run[] = [];
afterEach(async () => {
  // A run a test left going is stopped the way a user would: its own cleanup takes nginx and the instances along.
  await Promise.all(
    runs.splice(0).map(async (run) => {
      if (run.child.exitCode === null) run.child.kill('SIGTERM');
      await run.exited;
    }),
  );
});

/** The script itself, or `via: 'npm'`: `npm run cluster` as a user types it (npm, then the script's own processes). */
function runCluster(args: string[], env: Record<string, string> = {}, via: 'node' | 'npm' = 'node'): Run {
  const { REDIS_URL: _ignored, ...inherited } = process.env;
  const [command, commandArgs] = via === 'npm' ? ['npm', ['run', '--silent', 'cluster', '--', ...args]] : [process.execPath, ['--import', 'tsx', 'scripts/cluster.ts', ...args]];
  const child = spawn(command, commandArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...inherited, ...env } });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))).finally(() => clearTimeout(guard));
  const run = { child, output: () => text, exited };
  runs.push(run);
  return run;
}

/** Resolves with what the cluster printed once it printed its URL; rejects if it exits first. */
async function started(run: Run): Promise<{ url: string; dir: string; pids: number[] }> {
  for (let i = 0; i < 600; i++) {
    const url = /^listening on (ws:\/\/127\.0\.0\.1:\d+\/)/m.exec(run.output())?.[1];
    const dir = /^ {2}nginx: (\S+) /m.exec(run.output())?.[1];
    if (url !== undefined && dir !== undefined) return { url, dir, pids: [...run.output().matchAll(/\(pid (\d+);/g)].map((match) => Number(match[1])) };
    if (run.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the cluster printed no URL:\n${run.output()}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run cluster', () => {
  it('serves WebSocket upgrades through nginx, and SIGTERM stops every process and removes its directory', async () => {
    const run = runCluster(['--memory', '--instances', '2', '--', '--no-app']);
    const { url, dir, pids } = await started(run);
    expect(pids).toHaveLength(2);
    expect(existsSync(dir)).toBe(true);
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    socket.terminate();
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('cluster: stopped');
    expect(existsSync(dir)).toBe(false);
    expect(pids.filter(isAlive)).toEqual([]);
  });

  it('stops every process and removes its directory on a SIGTERM to npm (npm run cluster: npm passes it on)', async () => {
    const run = runCluster(['--memory', '--instances', '1', '--', '--no-app'], {}, 'npm');
    const { dir, pids } = await started(run);
    expect(pids).toHaveLength(1);
    run.child.kill('SIGTERM');
    await run.exited;
    // npm exits at once; the script goes on stopping what it started: bounded wait for its last line.
    for (let i = 0; i < 300 && !run.output().includes('cluster: stopped'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(run.output()).toContain('cluster: stopped');
    expect(existsSync(dir)).toBe(false);
    expect(pids.filter(isAlive)).toEqual([]);
  });

  it('stops by itself after --duration', async () => {
    const run = runCluster(['--memory', '--instances', '1', '--duration', '1', '--', '--no-app']);
    const { dir } = await started(run);
    expect(await run.exited).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  it('says how to start Redis when none answers', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const run = runCluster(['--redis', url]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain(`cluster: no Redis answers at ${url}`);
    expect(run.output()).toContain("redis-server --port 6379 --save '' --daemonize yes");
  });

  it('says how to install nginx when it is missing, before starting any instance', async () => {
    const run = runCluster(['--memory'], { NGINX: '/nonexistent/nginx' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('cluster: nginx was not found (looked for /nonexistent/nginx): install it with `apt-get install -y nginx`');
    expect(run.output()).not.toContain('listening');
  });

  it.each([
    [['--instances', '0'], '--instances takes a whole number from 1 to 64; received "0"'],
    [['--memory', '--redis', 'redis://127.0.0.1:6379'], '--memory runs without Redis'],
  ])('refuses %j with exit 2', async (args, message) => {
    const run = runCluster(args);
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(`cluster: ${message}`);
  });
});
