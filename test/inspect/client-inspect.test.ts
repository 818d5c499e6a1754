import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_INSPECT_URL, USAGE, parseClientArgs } from '../../scripts/client/args.js';
import { pageUrlOf, startInspection } from '../../scripts/client/inspection.js';
import { startSyncServer } from '../../src/server/start.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const URL_FLAG = ['--url', 'ws://127.0.0.1:8080'];

function inspectOf(...flags: string[]) {
  const result = parseClientArgs([...URL_FLAG, ...flags]);
  if (result.kind !== 'run') throw new Error(`expected the flags to parse; got ${JSON.stringify(result)}`);
  return result.args.inspect;
}

function refusal(...flags: string[]): string {
  const result = parseClientArgs([...URL_FLAG, ...flags]);
  if (result.kind !== 'error') throw new Error(`expected exit 2; got ${JSON.stringify(result)}`);
  return result.message;
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('client --inspect', () => {
  describe('flags', () => {
    it('streams to npm run inspect on its default port when no URL is given', () => {
      expect(inspectOf('--inspect')).toEqual({ kind: 'relay', url: DEFAULT_INSPECT_URL });
      expect(inspectOf('--inspect', '--duration', '2')).toEqual({ kind: 'relay', url: 'ws://127.0.0.1:8090/inspect' });
    });

    it('takes a URL after a space or an equals sign, or "stately"', () => {
      expect(inspectOf('--inspect', 'ws://127.0.0.1:9000/inspect')).toEqual({ kind: 'relay', url: 'ws://127.0.0.1:9000/inspect' });
      expect(inspectOf('--inspect=wss://box:1/inspect', '--json')).toEqual({ kind: 'relay', url: 'wss://box:1/inspect' });
      expect(inspectOf('--inspect=stately')).toEqual({ kind: 'stately' });
      expect(inspectOf('--inspect', 'stately')).toEqual({ kind: 'stately' });
    });

    it('is absent without the flag, and never taken from another flag\'s value', () => {
      expect(inspectOf()).toBeUndefined();
      // `--token --inspect` is parseArgs' to judge (it calls the value ambiguous), not an --inspect.
      const result = parseClientArgs([...URL_FLAG, '--token', '--inspect']);
      expect(result.kind).toBe('error');
      expect(result.kind === 'error' ? result.message : '').toMatch(/--token/);
    });

    it('refuses a value that is not a ws:// URL or "stately", and a second --inspect', () => {
      expect(refusal('--inspect', 'http://127.0.0.1:8090/')).toMatch(/--inspect takes the ws:\/\/ URL of an inspector relay/);
      expect(refusal('--inspect=')).toMatch(/received ""/);
      expect(refusal('--inspect', '--inspect')).toMatch(/--inspect is given twice/);
    });

    it('names the program an installed user starts the relay with, statesocket-inspect', async () => {
      expect(USAGE).toMatch(/an inspector relay \(statesocket-inspect\)/);
      const inspection = await startInspection({ kind: 'relay', url: DEFAULT_INSPECT_URL }, () => {});
      cleanups.push(() => inspection.stop());
      expect(inspection.banner).toBe(
        'inspector: open http://127.0.0.1:8090/ (streaming to ws://127.0.0.1:8090/inspect, the relay that statesocket-inspect starts)',
      );
    });

    it('shows the page of a relay at the same host and port', () => {
      expect(pageUrlOf('ws://127.0.0.1:8090/inspect')).toBe('http://127.0.0.1:8090/');
      expect(pageUrlOf('wss://inspect.example:443/inspect?x=1')).toBe('https://inspect.example/');
    });
  });

  it('exits 0 on --duration when the inspector relay is not there', async () => {
    const server = await startSyncServer({ control: true, host: '127.0.0.1', port: 0 });
    cleanups.push(() => server.close());
    const port = await closedPort();
    const started = Date.now();
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'scripts/client.ts', '--url', server.url, '--inspect', `ws://127.0.0.1:${port}/inspect`, '--duration', '2', '--json'],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    const elapsed = Date.now() - started;

    expect(code, stderr).toBe(0);
    expect(elapsed).toBeLessThan(10_000);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(summary).toMatchObject({ type: 'summary', reason: 'duration', exitCode: 0 });
    expect(summary.history).toEqual(expect.arrayContaining(['open']));
    expect(stderr).toContain(`inspector: open http://127.0.0.1:${port}/`);
    // warned once, not once per retry
    expect(stderr.match(/inspector relay at .* is not reachable/g)).toHaveLength(1);
  }, 20_000);
});
