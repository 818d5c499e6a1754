import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `scripts/server.ts` with `args`; resolves with its exit code and stderr (it must exit by itself). */
function runServer(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/server.ts', '--no-app', '--port', '0', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
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
