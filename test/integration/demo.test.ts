/**
 * `npm start` as a new user runs it: the demo must end with a true summary,
 * the model compared with the server's data at the same seq (it used to
 * compare with the data at a later seq and print DIFFERS FROM).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function runDemo(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, output });
    });
  });
}

describe('the demo', () => {
  it('ends with the model equal to the server data at the same seq, under a fast feed and faults', async () => {
    // A fast feed makes a patch in flight at the end likely: the old summary then said DIFFERS FROM.
    const { code, output } = await runDemo(['--duration', '3', '--feed-rate', '200', '--fault-every', '1', '--no-inspect']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^control token: [0-9a-f]{48}$/m);
    expect(output).not.toMatch(/fault injection failed/);
    expect(output).toMatch(/^summary: idle → connecting → open .*errored → connecting → open/m);
    expect(output).toMatch(/^summary: .* · model equals the server's data at seq \d+$/m);
  }, 90_000);
});
