import { describe, expect, it } from 'vitest';
import type { ClientArgs } from '../../scripts/client/args.js';
import { parseClientArgs } from '../../scripts/client/args.js';

const URL_FLAG = ['--url', 'ws://127.0.0.1:8080'];

/** The settings for these flags; fails the test when they are refused. */
function run(...flags: string[]): ClientArgs {
  const result = parseClientArgs([...URL_FLAG, ...flags]);
  if (result.kind !== 'run') throw new Error(`expected the flags to parse; got ${JSON.stringify(result)}`);
  return result.args;
}

/** The message for refused flags; fails the test when they parse. */
function refused(flags: string[]): string {
  const result = parseClientArgs(flags);
  if (result.kind !== 'error') throw new Error(`expected exit 2 for ${flags.join(' ')}; got ${JSON.stringify(result)}`);
  expect(result.exitCode).toBe(2);
  expect(result.usage).toContain('usage: statesocket-client');
  return result.message;
}

describe('client flags', () => {
  it('needs only --url and defaults the rest', () => {
    expect(run()).toEqual({
      url: 'ws://127.0.0.1:8080',
      protocol: 'statesocket',
      reconnect: {},
      connections: 1,
      json: false,
      quiet: false,
    });
  });

  it('reads every flag', () => {
    const args = run(
      '--protocol', 'raw', '--token', 't0k', '--control-token', 'c0k', '--initial-delay', '100', '--max-delay', '2s', '--max-attempts', '5',
      '--factor', '1.5', '--stable-after', '750ms', '--connect-timeout', '3000', '--heartbeat-interval', '1000',
      '--heartbeat-timeout', '400', '--duration', '2.5', '--connections', '10', '--script', 'a.json', '--json', '--quiet',
    );
    expect(args).toEqual({
      url: 'ws://127.0.0.1:8080',
      protocol: 'raw',
      token: 't0k',
      controlToken: 'c0k',
      reconnect: { initialDelayMs: 100, maxDelayMs: 2000, maxAttempts: 5, factor: 1.5, stableAfterMs: 750 },
      connectTimeoutMs: 3000,
      heartbeat: { intervalMs: 1000, timeoutMs: 400 },
      durationS: 2.5,
      connections: 10,
      script: 'a.json',
      json: true,
      quiet: true,
    });
  });

  it('accepts --flag=value', () => {
    expect(parseClientArgs(['--url=wss://example.com/live', '--duration=1'])).toMatchObject({
      kind: 'run',
      args: { url: 'wss://example.com/live', durationS: 1 },
    });
  });

  it('turns reconnecting off with --no-reconnect', () => {
    expect(run('--no-reconnect').reconnect).toBe(false);
  });

  it('takes Infinity for --max-attempts', () => {
    expect(run('--max-attempts', 'Infinity').reconnect).toEqual({ maxAttempts: Infinity });
  });

  it('defaults the heartbeat timeout to half the interval', () => {
    expect(run('--heartbeat-interval', '3s').heartbeat).toEqual({ intervalMs: 3000, timeoutMs: 1500 });
  });

  it('answers --help with the usage', () => {
    expect(parseClientArgs(['--help'])).toMatchObject({ kind: 'help' });
    expect(parseClientArgs(['-h'])).toMatchObject({ kind: 'help' });
  });
});

describe('client flags refused with exit 2', () => {
  it.each([
    [[], '--url is required'],
    [['--url', 'http://127.0.0.1:8080'], 'expected a ws:// or wss:// URL'],
    [['--url', 'not a url'], 'is not a valid URL'],
    [[...URL_FLAG, '--bogus'], 'unknown flag --bogus'],
    [[...URL_FLAG, '--bogus=1'], 'unknown flag --bogus'],
    [[...URL_FLAG, '-x'], 'unknown flag -x'],
    [[...URL_FLAG, 'extra'], 'unexpected argument "extra"'],
    [['--url'], "argument missing"],
    [[...URL_FLAG, '--protocol', 'graphql-ws'], '--protocol must be statesocket or raw; received "graphql-ws"'],
    [[...URL_FLAG, '--token', ''], '--token must not be empty'],
    [[...URL_FLAG, '--control-token', ''], '--control-token must not be empty'],
    [[...URL_FLAG, '--initial-delay', 'soon'], '--initial-delay must be a time in milliseconds'],
    [[...URL_FLAG, '--initial-delay=-5'], '--initial-delay must be a time in milliseconds'],
    [[...URL_FLAG, '--max-delay', '100'], '--max-delay (100 ms) must be at least --initial-delay (500 ms, the default)'],
    [[...URL_FLAG, '--initial-delay', '5s', '--max-delay', '1s'], '--max-delay (1000 ms) must be at least --initial-delay (5000 ms)'],
    [[...URL_FLAG, '--max-attempts', '2.5'], '--max-attempts must be a whole number'],
    [[...URL_FLAG, '--max-attempts', 'many'], '--max-attempts must be a whole number or Infinity'],
    [[...URL_FLAG, '--factor', '0.5'], '--factor must be at least 1'],
    [[...URL_FLAG, '--factor', 'NaN'], '--factor must be a number'],
    [[...URL_FLAG, '--connect-timeout', '0'], '--connect-timeout must be at least 1 ms'],
    [[...URL_FLAG, '--connect-timeout', '3000000000'], '--connect-timeout must be at most 2147483647 ms'],
    [[...URL_FLAG, '--max-delay', '1000000000000'], '--max-delay must be at most 2147483647 ms'],
    [[...URL_FLAG, '--stable-after', '2147484s'], '--stable-after must be at most 2147483647 ms'],
    [[...URL_FLAG, '--heartbeat-interval', '3000000000'], '--heartbeat-interval must be at most 2147483647 ms'],
    [[...URL_FLAG, '--duration', '2147484'], '--duration must be at most 2147483.647 seconds'],
    [[...URL_FLAG, '--no-reconnect', '--max-attempts', '3'], '--no-reconnect cannot be combined with --max-attempts'],
    [[...URL_FLAG, '--heartbeat-timeout', '100'], '--heartbeat-timeout needs --heartbeat-interval'],
    [[...URL_FLAG, '--heartbeat-interval', '0'], '--heartbeat-interval must be at least 1 ms'],
    [[...URL_FLAG, '--duration', 'forever'], '--duration must be a number'],
    [[...URL_FLAG, '--duration', '0'], '--duration must be more than 0 seconds'],
    [[...URL_FLAG, '--duration', ''], '--duration must be a number'],
    [[...URL_FLAG, '--connections', '0'], '--connections must be at least 1'],
    [[...URL_FLAG, '--connections', '1.5'], '--connections must be a whole number'],
    [[...URL_FLAG, '--script', ''], '--script needs a file name'],
  ])('%j → %s', (flags, message) => {
    expect(refused(flags)).toContain(message);
  });
});
