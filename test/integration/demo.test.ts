/**
 * `npm start` as a new user runs it: the demo must end with a true summary,
 * each channel's model compared with the server's data at the same seq (it used to
 * compare with the data at a later seq and print DIFFERS FROM), the forbidden channel
 * failed alone, and the note written after a fault on the notes channel.
 */
import { describe, expect, it } from 'vitest';
import { runScript } from './server-process.js';

const runDemo = (args: string[]) => runScript('scripts/demo.ts', args);

describe('the demo', () => {
  it('ends with the model equal to the server data at the same seq, under a fast feed and faults', async () => {
    // A fast feed makes a patch in flight at the end likely: the old summary then said DIFFERS FROM.
    const { code, output } = await runDemo(['--duration', '3', '--feed-rate', '200', '--fault-every', '1', '--no-inspect']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^control token: [0-9a-f]{48}$/m);
    expect(output).not.toMatch(/fault injection failed/);
    expect(output).toMatch(/^summary: idle → connecting → open .*errored → connecting → open/m);
    expect(output).toMatch(/^channels: prices live · notes live \(here: terminal\) · admin\/audit failed ERR_CHANNEL_FORBIDDEN$/m);
    expect(output).toMatch(/^summary: .* · prices: model equals the server's data at seq \d+ · notes: model equals the server's data at seq \d+$/m);
    expect(output).toMatch(/^ {2}notes 2 keys: last-fault="(drop|stall|close 1012) at /m);
  }, 90_000);
});
