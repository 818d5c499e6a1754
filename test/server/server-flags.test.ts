import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startInstance, type Instance } from '../../scripts/cluster/instance.js';
import { control, serverState } from '../integration/server-process.js';
import { REDIS_URL, redisTestBed } from './redis/redis-support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs `scripts/server.ts` with `args` (and `env` over a copy of this process's environment without
 * REDIS_URL); resolves with its exit code and stderr (it must exit by itself).
 */
function runServer(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const { REDIS_URL: _ignored, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/server.ts', '--no-app', '--port', '0', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...inherited, ...env },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not exit: ${stderr}`));
    }, 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('server flags', () => {
  it.each([
    [['--hello-timeout', '0'], '--hello-timeout must be a whole number from 1'],
    [['--max-buffered', '0'], '--max-buffered must be a whole number from 1'],
    [['--allowed-origin', 'not a url'], '--allowed-origin'],
    [['--auth-delay', '1.5'], '--auth-delay must be a whole number from 0'],
  ])('refuses %j with exit 2, naming the flag rather than the option', async (args, message) => {
    const { code, stderr } = await runServer(args);
    expect(code).toBe(2);
    expect(stderr).toContain(`server: ${message}`);
    expect(stderr).not.toMatch(/^server: startSyncServer:/m);
  });
});

describe('--redis, --redis-prefix and REDIS_URL', () => {
  it.each([
    [['--redis', 'http://127.0.0.1:6379'], {}, '--redis must be redis://[user:password@]host[:port][/db]'],
    [['--redis', 'redis://:hunter2@'], {}, '--redis must be redis://'],
    [['--redis', 'redis://127.0.0.1:6379', '--redis-prefix', 'two words'], {}, '--redis-prefix must be 1 to 100 printable ASCII characters'],
    [['--redis-prefix', 'app:'], {}, '--redis-prefix needs --redis URL (or REDIS_URL)'],
    [['--redis', 'redis://127.0.0.1:6379', '--data-file', 'data.json'], {}, '--redis and --data-file are mutually exclusive'],
    [['--data-file', 'data.json'], { REDIS_URL: 'redis://127.0.0.1:6379' }, 'REDIS_URL and --data-file are mutually exclusive'],
    [[], { REDIS_URL: 'not a url' }, 'REDIS_URL must be redis://[user:password@]host[:port][/db] (or rediss:// for TLS); received something that is not a URL'],
  ])('refuses %j (env %j) with exit 2 and a message naming the flag', async (args, env, message) => {
    const { code, stderr } = await runServer(args, env);
    expect(code).toBe(2);
    expect(stderr).toContain(`server: ${message}`);
    expect(stderr).not.toContain('hunter2');
  });

  it('runs instances on the Redis engine: a change through one is the state of another', async () => {
    const bed = redisTestBed('server-flags');
    await bed.engine(); // fails with how to start Redis when none answers
    const instances: Instance[] = [];
    try {
      instances.push(await startInstance({ redis: { url: REDIS_URL, prefix: bed.prefix }, serverArgs: ['--no-app'] }));
      instances.push(await startInstance({ redis: { url: REDIS_URL, prefix: bed.prefix }, serverArgs: ['--no-app'] }));
      const [first, second] = instances as [Instance, Instance];
      expect((await control(first, 'change', { set: { through: 'the first' } })).ok).toBe(true);
      expect(await serverState(second)).toMatchObject({ channel: 'default', seq: 1, data: { through: 'the first' } });
    } finally {
      for (const instance of instances) await instance.stop();
      await bed.cleanup();
    }
  });
});
