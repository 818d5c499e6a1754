/**
 * The shipped scenario files, run through the real CLI (`scripts/client.ts`)
 * against the real server process, as a user would run them.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runScript, serverState, startServerProcess } from './server-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCENARIOS = readdirSync(`${ROOT}scripts/scenarios`).filter((name) => name.endsWith('.json'));

const runClient = (args: string[]) => runScript('scripts/client.ts', args);

afterEach(killAll);

describe('shipped scenarios through the real CLI', () => {
  it('ships the three scenarios the docs promise', () => {
    expect(SCENARIOS).toEqual(expect.arrayContaining(['happy-path.json', 'outage-and-recovery.json', 'offline-op-applied-once.json']));
  });

  it.each(SCENARIOS)('%s passes against the reference server', async (name) => {
    const server = await startServerProcess(['--feed-rate', '20']);
    const result = await runClient([
      '--url', server.url, '--control-token', server.controlToken, '--script', `scripts/scenarios/${name}`, '--json', '--quiet',
    ]);
    expect(result.code, result.output).toBe(0);
    const state = await serverState(server);
    if (name === 'offline-op-applied-once.json') {
      expect(state.data['scenario.offline-op']).toBe('applied once');
      expect(state.counters.opsApplied).toBe(1);
    }
  }, 90_000);

  it('exits 1 naming the step when an expectation fails, and 2 on a bad flag', async () => {
    const server = await startServerProcess();
    const failing = await runClient([
      '--url', server.url, '--control-token', server.controlToken, '--script', 'test/integration/fixtures/failing-scenario.json', '--quiet',
    ]);
    expect(failing.code).toBe(1);
    expect(failing.output).toMatch(/steps\[1\] \(expect\)/);
    const bad = await runClient(['--url', server.url, '--bogus']);
    expect(bad.code).toBe(2);
  }, 90_000);
});
