/**
 * The scripted client's command line: flags → validated settings. Pure (no
 * process access) so every exit-2 case is a unit test.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_OPTIONS } from '../../src/options.js';
import { urlProblem } from '../../src/socket.js';
import { MAX_TIMER_MS } from '../../src/timers.js';

/** Where `--inspect` without a URL streams to: `statesocket-inspect` on its default port. */
export const DEFAULT_INSPECT_URL = 'ws://127.0.0.1:8090/inspect';

export const USAGE = `usage: statesocket-client --url ws://HOST:PORT [options]   (in the repository: npm run client -- ...)

connection
  --url URL                 ws:// or wss:// URL to connect to (required)
  --protocol NAME           statesocket (sync protocol: hello, ops, acks) or raw (any JSON
                            server; the default store keeps what it receives)   [statesocket]
  --token TOKEN             statesocket: sent in the hello; raw: added to the URL as ?token=
  --control-token TOKEN     secret for the server's /control/ routes (scenario "control" steps);
                            the server prints it at start or takes --control-token
  --connect-timeout MS      longest wait for the handshake                     [${DEFAULT_OPTIONS.connectTimeoutMs}]

reconnecting
  --initial-delay MS        first backoff ceiling                              [${DEFAULT_OPTIONS.reconnect.initialDelayMs}]
  --max-delay MS            largest backoff ceiling                            [${DEFAULT_OPTIONS.reconnect.maxDelayMs}]
  --factor X                growth of the ceiling per failed attempt (>= 1)     [${DEFAULT_OPTIONS.reconnect.factor}]
  --max-attempts N          reconnects after failures in a row (or Infinity)   [Infinity]
  --stable-after MS         open this long before the attempt count resets     [${DEFAULT_OPTIONS.reconnect.stableAfterMs}]
  --no-reconnect            never reconnect: a failure ends in closed

heartbeat (off unless given)
  --heartbeat-interval MS   time between pings while open
  --heartbeat-timeout MS    how long after a ping a frame must arrive          [interval / 2]

inspecting
  --inspect [URL]           stream the machine to an inspector relay (statesocket-inspect) and
                            print its page URL; URL is the relay's ws://…/inspect
                                                       [${DEFAULT_INSPECT_URL}]
  --inspect=stately         use Stately's hosted inspector instead (needs the internet)

running
  --duration S              stop everything and exit 0 after S seconds (with --script: a
                            deadline; a scenario still running then fails)     [until Ctrl-C]
  --connections N           N independent connections (load); the view shows counts by state [1]
  --script FILE             run a scenario (.json, or a .ts/.js module exporting the steps
                            as default); exit 0 if every step held, 1 otherwise
  --json                    NDJSON on stdout: state, render, rejected lines and a summary
                            (with --connections N > 1: no render lines; the summary aggregates)
  --quiet                   no live output (with --json: only the summary)
  -h, --help                this text

Times in MS accept a unit: 500, 500ms, 2s. Exit codes: 0 ok, 1 a scenario step failed or
every connection gave up, 2 bad flags or values.`;

export type ClientProtocol = 'statesocket' | 'raw';

/** `--inspect [URL]`: an inspector relay; `--inspect=stately`: Stately's hosted inspector. */
export type InspectTarget = { kind: 'relay'; url: string } | { kind: 'stately' };

export interface ClientArgs {
  url: string;
  protocol: ClientProtocol;
  token?: string;
  /** `--control-token`: sent as `Authorization: Bearer` with the scenario's control steps. */
  controlToken?: string;
  /** `false`: --no-reconnect. Otherwise only the flags given (the library fills in the rest). */
  reconnect:
    | false
    | { initialDelayMs?: number; maxDelayMs?: number; factor?: number; maxAttempts?: number; stableAfterMs?: number };
  connectTimeoutMs?: number;
  heartbeat?: { intervalMs: number; timeoutMs: number };
  /** Seconds; undefined runs until a signal (or the scenario's end). */
  durationS?: number;
  connections: number;
  script?: string;
  json: boolean;
  quiet: boolean;
  /** Absent without --inspect. */
  inspect?: InspectTarget;
}

export type ParseResult =
  | { kind: 'run'; args: ClientArgs }
  | { kind: 'help'; usage: string }
  | { kind: 'error'; exitCode: 2; message: string; usage: string };

const OPTIONS = {
  url: { type: 'string' },
  protocol: { type: 'string' },
  token: { type: 'string' },
  'control-token': { type: 'string' },
  'initial-delay': { type: 'string' },
  'max-delay': { type: 'string' },
  'max-attempts': { type: 'string' },
  factor: { type: 'string' },
  'stable-after': { type: 'string' },
  'no-reconnect': { type: 'boolean' },
  'connect-timeout': { type: 'string' },
  'heartbeat-interval': { type: 'string' },
  'heartbeat-timeout': { type: 'string' },
  duration: { type: 'string' },
  connections: { type: 'string' },
  script: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Thrown inside the parser for one bad value; becomes a `kind: 'error'` result. */
class UsageError extends Error {}

/** A time in milliseconds: `500`, `500ms`, `2s`, `1.5s`. */
function parseMs(flag: string, text: string, min: number): number {
  const match = /^(\d+(?:\.\d+)?|\.\d+)(ms|s)?$/.exec(text.trim());
  if (match === null) {
    throw new UsageError(`--${flag} must be a time in milliseconds (like 500, 500ms or 2s); received ${JSON.stringify(text)}`);
  }
  const value = Number(match[1]) * (match[2] === 's' ? 1000 : 1);
  if (!Number.isFinite(value) || value < min) {
    throw new UsageError(`--${flag} must be at least ${min} ms; received ${JSON.stringify(text)}`);
  }
  if (value > MAX_TIMER_MS) {
    throw new UsageError(`--${flag} must be at most ${MAX_TIMER_MS} ms (2³¹−1, the longest a timer can wait); received ${JSON.stringify(text)}`);
  }
  return value;
}

function parseNumber(flag: string, text: string, check: { min: number; integer?: boolean; infinity?: boolean }): number {
  const trimmed = text.trim();
  if (check.infinity && /^(infinity|inf)$/i.test(trimmed)) return Infinity;
  const value = trimmed === '' ? Number.NaN : Number(trimmed);
  const kind = check.integer ? 'a whole number' : 'a number';
  if (!Number.isFinite(value)) {
    throw new UsageError(`--${flag} must be ${kind}${check.infinity ? ' or Infinity' : ''}; received ${JSON.stringify(text)}`);
  }
  if (check.integer && !Number.isInteger(value)) throw new UsageError(`--${flag} must be ${kind}; received ${JSON.stringify(text)}`);
  if (value < check.min) throw new UsageError(`--${flag} must be at least ${check.min}; received ${JSON.stringify(text)}`);
  return value;
}

/**
 * Parses and validates the flags (without the `node script` prefix).
 * Never throws and never exits: the caller prints and sets the exit code.
 */
export function parseClientArgs(argv: readonly string[]): ParseResult {
  try {
    return parse(argv);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { kind: 'error', exitCode: 2, message, usage: USAGE };
  }
}

/**
 * Takes `--inspect`, `--inspect URL` and `--inspect=VALUE` out of the flags
 * (`parseArgs` has no flag with an optional value). A following word that is
 * not a flag is the value; `takesValue` names the other flags that take one,
 * so their values are never mistaken for `--inspect`. Shared with the demo.
 * @throws Error with a message for the command line (twice, or a bad value)
 */
export function takeInspectFlag(
  argv: readonly string[],
  takesValue: (flag: string) => boolean,
): { rest: string[]; inspect: InspectTarget | undefined } {
  const rest: string[] = [];
  let value: string | undefined;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string;
    if (arg === '--') {
      rest.push(...argv.slice(index));
      break;
    }
    const previous = index > 0 ? argv[index - 1] : undefined;
    const previousName = previous?.startsWith('--') && !previous.includes('=') ? previous.slice(2) : undefined;
    const isValueOfPrevious = previousName !== undefined && takesValue(previousName);
    if (!isValueOfPrevious && (arg === '--inspect' || arg.startsWith('--inspect='))) {
      if (value !== undefined) throw new UsageError('--inspect is given twice');
      if (arg === '--inspect') {
        const next = argv[index + 1];
        if (next !== undefined && !next.startsWith('-')) {
          value = next;
          index++;
        } else {
          value = DEFAULT_INSPECT_URL;
        }
      } else {
        value = arg.slice('--inspect='.length);
      }
      continue;
    }
    rest.push(arg);
  }
  if (value === undefined) return { rest, inspect: undefined };
  if (value === 'stately') return { rest, inspect: { kind: 'stately' } };
  if (!/^wss?:\/\//i.test(value)) {
    throw new UsageError(`--inspect takes the ws:// URL of an inspector relay (like ${DEFAULT_INSPECT_URL}) or "stately"; received ${JSON.stringify(value)}`);
  }
  const problem = urlProblem(value);
  if (problem !== null) throw new UsageError(`--inspect: ${problem}`);
  return { rest, inspect: { kind: 'relay', url: value } };
}

function parse(input: readonly string[]): ParseResult {
  const { rest: argv, inspect } = takeInspectFlag(input, (flag) => OPTIONS[flag as keyof typeof OPTIONS]?.type === 'string');
  // Name an unknown flag plainly (parseArgs' own message goes on about positionals).
  for (const [index, arg] of argv.entries()) {
    if (arg === '--') break;
    const previous = index > 0 ? argv[index - 1] : undefined;
    const previousName = previous?.startsWith('--') && !previous.includes('=') ? previous.slice(2) : undefined;
    // A value of the flag before it (`--token -x`) is parseArgs' to judge.
    if (previousName !== undefined && OPTIONS[previousName as keyof typeof OPTIONS]?.type === 'string') continue;
    const name = arg.startsWith('--') ? arg.slice(2).split('=')[0] : arg.startsWith('-') && arg.length > 1 ? null : undefined;
    if (name === null && arg !== '-h') throw new UsageError(`unknown flag ${arg}`);
    if (typeof name === 'string' && !Object.hasOwn(OPTIONS, name)) throw new UsageError(`unknown flag --${name}`);
  }
  let values: Partial<Record<keyof typeof OPTIONS, string | boolean>>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true }));
  } catch (error) {
    // parseArgs' own messages name the flag ("Unknown option '--bogus'", "Option '--url <value>' argument missing").
    throw new UsageError((error as Error).message);
  }
  if (values.help === true) return { kind: 'help', usage: USAGE };
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}: every setting is a --flag`);
  }
  const text = (name: keyof typeof OPTIONS): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };

  const url = text('url');
  if (url === undefined) throw new UsageError('--url is required');
  const problem = urlProblem(url);
  if (problem !== null) throw new UsageError(`--url: ${problem}`);

  const protocol = text('protocol') ?? 'statesocket';
  if (protocol !== 'statesocket' && protocol !== 'raw') {
    throw new UsageError(`--protocol must be statesocket or raw; received ${JSON.stringify(protocol)}`);
  }

  const args: ClientArgs = {
    url,
    protocol,
    reconnect: {},
    connections: 1,
    json: values.json === true,
    quiet: values.quiet === true,
  };
  const token = text('token');
  if (token !== undefined) {
    if (token === '') throw new UsageError('--token must not be empty');
    args.token = token;
  }
  const controlToken = text('control-token');
  if (controlToken !== undefined) {
    if (controlToken === '') throw new UsageError('--control-token must not be empty');
    args.controlToken = controlToken;
  }

  const reconnectFlags = (['initial-delay', 'max-delay', 'max-attempts', 'factor', 'stable-after'] as const).filter(
    (flag) => text(flag) !== undefined,
  );
  if (values['no-reconnect'] === true) {
    if (reconnectFlags.length > 0) {
      throw new UsageError(`--no-reconnect cannot be combined with --${reconnectFlags.join(', --')}`);
    }
    args.reconnect = false;
  } else {
    const reconnect: Exclude<ClientArgs['reconnect'], false> = {};
    const initial = text('initial-delay');
    if (initial !== undefined) reconnect.initialDelayMs = parseMs('initial-delay', initial, 0);
    const max = text('max-delay');
    if (max !== undefined) reconnect.maxDelayMs = parseMs('max-delay', max, 0);
    const attempts = text('max-attempts');
    if (attempts !== undefined) reconnect.maxAttempts = parseNumber('max-attempts', attempts, { min: 0, integer: true, infinity: true });
    const factor = text('factor');
    if (factor !== undefined) reconnect.factor = parseNumber('factor', factor, { min: 1 });
    const stable = text('stable-after');
    if (stable !== undefined) reconnect.stableAfterMs = parseMs('stable-after', stable, 0);
    const effectiveInitial = reconnect.initialDelayMs ?? DEFAULT_OPTIONS.reconnect.initialDelayMs;
    const effectiveMax = reconnect.maxDelayMs ?? DEFAULT_OPTIONS.reconnect.maxDelayMs;
    if (effectiveMax < effectiveInitial) {
      throw new UsageError(
        `--max-delay (${effectiveMax} ms${max === undefined ? ', the default' : ''}) must be at least ` +
          `--initial-delay (${effectiveInitial} ms${initial === undefined ? ', the default' : ''})`,
      );
    }
    args.reconnect = reconnect;
  }

  const connectTimeout = text('connect-timeout');
  if (connectTimeout !== undefined) args.connectTimeoutMs = parseMs('connect-timeout', connectTimeout, 1);

  const interval = text('heartbeat-interval');
  const timeout = text('heartbeat-timeout');
  if (timeout !== undefined && interval === undefined) {
    throw new UsageError('--heartbeat-timeout needs --heartbeat-interval');
  }
  if (interval !== undefined) {
    const intervalMs = parseMs('heartbeat-interval', interval, 1);
    const timeoutMs = timeout !== undefined ? parseMs('heartbeat-timeout', timeout, 1) : Math.max(1, Math.floor(intervalMs / 2));
    args.heartbeat = { intervalMs, timeoutMs };
  }

  const duration = text('duration');
  if (duration !== undefined) {
    const seconds = parseNumber('duration', duration, { min: 0 });
    if (seconds <= 0) throw new UsageError(`--duration must be more than 0 seconds; received ${JSON.stringify(duration)}`);
    if (seconds * 1000 > MAX_TIMER_MS) {
      throw new UsageError(`--duration must be at most ${MAX_TIMER_MS / 1000} seconds (2³¹−1 ms, the longest a timer can wait); received ${JSON.stringify(duration)}`);
    }
    args.durationS = seconds;
  }

  const connections = text('connections');
  if (connections !== undefined) args.connections = parseNumber('connections', connections, { min: 1, integer: true });

  const script = text('script');
  if (script !== undefined) {
    if (script === '') throw new UsageError('--script needs a file name');
    args.script = script;
  }
  if (inspect !== undefined) args.inspect = inspect;
  return { kind: 'run', args };
}
