#!/usr/bin/env node
/**
 * `npm run server -- [flags]`: the statesocket sync server with fault injection.
 * A thin program over `startSyncServer` (src/server/start.ts); see `--help`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadBuiltApps, REACT_APP_BASE, type AppBundle } from '../src/server/static-files.js';
import { DEFAULT_AUTH_THROTTLE } from '../src/server/auth-throttle.js';
import { descriptorWarning, openFilesSoftLimit } from '../src/server/admission.js';
import { DEFAULT_SERVER_OPTIONS, type NodeServerOptions } from '../src/server/server-options.js';
import { startSyncServer, type RunningServer } from '../src/server/start.js';
import { AclError } from '../src/server/acl.js';
import { DEFAULT_PREFIX } from '../src/server/redis-prefix.js';
import { redactUrl } from '../src/redact.js';

const USAGE = `usage: statesocket-server [flags]   (in the repository: npm run server -- [flags])

  --host HOST             interface to listen on (default ${DEFAULT_SERVER_OPTIONS.host})
  --port N                TCP port, 0 for a free one (default ${DEFAULT_SERVER_OPTIONS.port})
  --feed-rate N           server-side price changes per second, 0 = off (default 0)
  --log-size N            patches kept for replay (default ${DEFAULT_SERVER_OPTIONS.logSize})
  --dedup-size N          op ids remembered for exactly-once (default ${DEFAULT_SERVER_OPTIONS.dedupSize})
  --dedup-retention MS    an op id is never forgotten younger than MS; when --dedup-size such ids
                          fill the record, new ops get 1013 (default ${DEFAULT_SERVER_OPTIONS.dedupRetentionMs})
  --max-hellos-per-minute N
                          hellos one connection may send per minute; more get 1013 (default ${DEFAULT_SERVER_OPTIONS.maxHellosPerMinute})
  --max-payload BYTES     largest client frame; larger closes with 1009 (default ${DEFAULT_SERVER_OPTIONS.maxPayloadBytes})
  --heartbeat MS          ws-level ping interval; silent clients are terminated (default off)
  --token TOKEN           required token (URL ?token= or hello); otherwise 4401
  --control-token TOKEN   secret for /control/ (Authorization: Bearer TOKEN), 16 characters or more;
                          default: a new one, printed
  --allowed-origin LIST   comma-separated origins whose pages may connect, besides the server's
                          own origin and non-browser clients; others get 4403 (default: none)
  --hello-timeout MS      a connection must say hello within MS, else 1013 (default ${DEFAULT_SERVER_OPTIONS.helloTimeoutMs})
  --max-connections N     WebSocket connections at once; more get 1013 (default ${DEFAULT_SERVER_OPTIONS.maxConnections})
  --max-connections-per-address N
                          the same, per client address (default ${DEFAULT_SERVER_OPTIONS.maxConnectionsPerAddress})
  --trust-proxy LIST      comma-separated proxy addresses whose X-Forwarded-For names the client
  --auth-delay MS         after n failed authentications from an address, its next attempt waits
                          MS * 2^(n-1) ms (default ${DEFAULT_AUTH_THROTTLE.baseDelayMs})
  --auth-max-delay MS     the largest such wait; an attempt that would wait longer gets 1013
                          (default ${DEFAULT_AUTH_THROTTLE.maxDelayMs})
  --data-file PATH        persist every channel's data, op marks and the dedup record here (atomic writes)
  --redis URL             keep channels, logs, op marks and presence in Redis, shared by every instance
                          started with the same URL and --redis-prefix (redis://[user:password@]host[:port][/db]);
                          default: $REDIS_URL when set, else in this process. Not with --data-file
  --redis-prefix PREFIX   put before every Redis key, for several deployments on one Redis (default: the engine's)
  --acl FILE              users and permissions (JSON: tokens with user, info, expiresAt, scope; channel
                          patterns with the users who may subscribe, publish, use presence); not with --token
  --feed-channel NAME     the channel the feed changes (default ${DEFAULT_SERVER_OPTIONS.feedChannel})
  --max-channels-per-connection N
                          channels one connection may hold; more get ERR_CHANNEL_LIMIT (default ${DEFAULT_SERVER_OPTIONS.maxChannelsPerConnection})
  --max-channels-in-memory N
                          channels loaded at once; idle ones are unloaded first, else a subscribe gets
                          ERR_CHANNEL_UNAVAILABLE (default ${DEFAULT_SERVER_OPTIONS.maxChannelsInMemory})
  --max-stored-channels N channels stored (with data or op marks, kept in memory and the data file); an
                          op that would store one more gets ERR_STORAGE_FULL (default ${DEFAULT_SERVER_OPTIONS.maxStoredChannels})
  --max-subscribes-per-minute N
                          subscribes of one channel on one connection a minute; more get ERR_RATE_LIMITED (default ${DEFAULT_SERVER_OPTIONS.maxSubscribesPerMinute})
  --max-clients-per-channel N
                          op marks a channel keeps; past it one is forgotten (default ${DEFAULT_SERVER_OPTIONS.maxClientsPerChannel})
  --mark-retention MS     a mark idle this long is forgotten (default ${DEFAULT_SERVER_OPTIONS.markRetentionMs})
  --max-refusals-per-client N
                          refused ops kept per client and channel (default ${DEFAULT_SERVER_OPTIONS.maxRefusalsPerClient})
  --max-client-ids N      client ids whose user is remembered (per-user tokens): another user's hello
                          with one gets 4423; past it one is forgotten (default ${DEFAULT_SERVER_OPTIONS.maxClientIds})
  --presence-grace MS     a member whose connection ended stays listed this long (default ${DEFAULT_SERVER_OPTIONS.presenceGraceMs})
  --refresh-before MS     refresh is sent this long before a token expires (default ${DEFAULT_SERVER_OPTIONS.refreshBeforeMs})
  --channel-idle MS       a channel nobody holds is unloaded after MS (default ${DEFAULT_SERVER_OPTIONS.channelIdleMs})
  --max-buffered BYTES    slow-consumer bound; over it closes with 1013 (default ${DEFAULT_SERVER_OPTIONS.maxBufferedBytes})
  --max-value-depth N     arrays/objects a value may nest; deeper ops are refused (default ${DEFAULT_SERVER_OPTIONS.maxValueDepth})
  --max-op-bytes BYTES    JSON size of one op's set+delete; larger ops are refused (default ${DEFAULT_SERVER_OPTIONS.maxOpBytes})
  --max-data-bytes BYTES  JSON size of the whole document; ops past it get ERR_DATA_LIMIT (default ${DEFAULT_SERVER_OPTIONS.maxDataBytes})
  --no-app                do not serve the browser app at / and its React version at /react/
  -h, --help              show this help

Fault injection (loopback peer and Host, no cross-origin Origin, JSON bodies, with
"Authorization: Bearer <control token>"): POST /control/drop | close?code=N&reason=R |
stall?ms=N | garbage | oversized?bytes=N | restart | change?channel=NAME (JSON {set?, delete?});
GET /control/state?channel=NAME (default: the default channel).

The browser app (built by npm run build into dist/www/app/, shipped with the package) is served at http://HOST:PORT/;
add ?inspect=ws://127.0.0.1:8090/inspect to stream its machine to the inspector. The same app in React
(dist/www/react/, shipped too, React bundled in) is served at http://HOST:PORT/react/.
`;

const NUMERIC = {
  port: 'port',
  'feed-rate': 'feedRatePerSec',
  'log-size': 'logSize',
  'dedup-size': 'dedupSize',
  'dedup-retention': 'dedupRetentionMs',
  'max-hellos-per-minute': 'maxHellosPerMinute',
  'max-payload': 'maxPayloadBytes',
  heartbeat: 'heartbeatMs',
  'max-buffered': 'maxBufferedBytes',
  'max-value-depth': 'maxValueDepth',
  'max-op-bytes': 'maxOpBytes',
  'max-data-bytes': 'maxDataBytes',
  'hello-timeout': 'helloTimeoutMs',
  'max-connections': 'maxConnections',
  'max-connections-per-address': 'maxConnectionsPerAddress',
  'max-channels-per-connection': 'maxChannelsPerConnection',
  'max-channels-in-memory': 'maxChannelsInMemory',
  'max-stored-channels': 'maxStoredChannels',
  'max-subscribes-per-minute': 'maxSubscribesPerMinute',
  'max-clients-per-channel': 'maxClientsPerChannel',
  'mark-retention': 'markRetentionMs',
  'max-refusals-per-client': 'maxRefusalsPerClient',
  'max-client-ids': 'maxClientIds',
  'presence-grace': 'presenceGraceMs',
  'refresh-before': 'refreshBeforeMs',
  'channel-idle': 'channelIdleMs',
} as const satisfies Record<string, keyof NodeServerOptions>;

const TEXT = {
  host: 'host',
  token: 'token',
  'control-token': 'controlToken',
  'data-file': 'dataFile',
  acl: 'acl',
  'feed-channel': 'feedChannel',
} as const satisfies Record<string, keyof NodeServerOptions>;

const LISTS = {
  'allowed-origin': 'allowedOrigins',
  'trust-proxy': 'trustProxy',
} as const satisfies Record<string, keyof NodeServerOptions>;

const THROTTLE = {
  'auth-delay': 'baseDelayMs',
  'auth-max-delay': 'maxDelayMs',
} as const;

/** Option name → its flag, so a validation error names what the user typed. */
const FLAG_OF: ReadonlyMap<string, string> = new Map([
  ...[...Object.entries(NUMERIC), ...Object.entries(TEXT), ...Object.entries(LISTS)].map(([flag, option]) => [option, `--${flag}`] as const),
  ...Object.entries(THROTTLE).map(([flag, field]) => [`authThrottle.${field}`, `--${flag}`] as const),
  ['redis.url', '--redis'],
  ['redis.prefix', '--redis-prefix'],
]);

/**
 * `startSyncServer: helloTimeoutMs must be ...` → `--hello-timeout must be ...`; `renamed` names the
 * options given some other way (`redis.url` from REDIS_URL).
 */
export function nameFlags(message: string, renamed: Readonly<Record<string, string>> = {}): string {
  return message.replace(/^startSyncServer: ([\w.]+)/, (whole, option: string) => renamed[option] ?? FLAG_OF.get(option) ?? whole);
}

function usageError(message: string): never {
  process.stderr.write(`server: ${message}\n\n${USAGE}`);
  process.exit(2);
}

/**
 * `--redis` (else REDIS_URL) and `--redis-prefix` as the `redis` option, and where the URL came from
 * (for messages). The URL itself is checked by `startSyncServer`.
 */
function redisOption(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
  dataFile: string | number | undefined,
): { redis?: NodeServerOptions['redis']; source: string } {
  const fromFlag = typeof values.redis === 'string' ? values.redis : undefined;
  const source = fromFlag === undefined ? 'REDIS_URL' : '--redis';
  const url = fromFlag ?? (env.REDIS_URL === '' ? undefined : env.REDIS_URL);
  const prefix = values['redis-prefix'];
  if (url === undefined) {
    if (typeof prefix === 'string') usageError('--redis-prefix needs --redis URL (or REDIS_URL)');
    return { source };
  }
  if (dataFile !== undefined) {
    usageError(
      `${source} and --data-file are mutually exclusive: with Redis, Redis keeps the data; ` +
        (source === '--redis' ? 'give one of them' : 'unset REDIS_URL to use the data file'),
    );
  }
  return { redis: { url, ...(typeof prefix === 'string' ? { prefix } : {}) }, source };
}

function parseOptions(argv: string[]): { options: NodeServerOptions; app: boolean; redisSource: string } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries([...Object.keys(NUMERIC), ...Object.keys(TEXT), ...Object.keys(LISTS), ...Object.keys(THROTTLE)].map((name) => [name, { type: 'string' as const }])),
        redis: { type: 'string' },
        'redis-prefix': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        'no-app': { type: 'boolean' },
      },
    }));
  } catch (error) {
    usageError((error as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const options: Record<string, string | number> = {};
  for (const [flag, option] of Object.entries(NUMERIC)) {
    const raw = values[flag];
    if (typeof raw !== 'string') continue;
    const value = raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(value)) usageError(`--${flag} takes a number; received ${JSON.stringify(raw)}`);
    options[option] = value;
  }
  for (const [flag, option] of Object.entries(TEXT)) {
    const raw = values[flag];
    if (typeof raw === 'string') options[option] = raw;
  }
  const lists: Record<string, string[]> = {};
  for (const [flag, option] of Object.entries(LISTS)) {
    const raw = values[flag];
    if (typeof raw !== 'string') continue;
    const entries = raw.split(',').map((entry) => entry.trim());
    if (entries.some((entry) => entry === '')) usageError(`--${flag} takes a comma-separated list without empty entries; received ${JSON.stringify(raw)}`);
    lists[option] = entries;
  }
  const authThrottle: Record<string, number> = {};
  for (const [flag, field] of Object.entries(THROTTLE)) {
    const raw = values[flag];
    if (typeof raw !== 'string') continue;
    const value = raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(value)) usageError(`--${flag} takes a number; received ${JSON.stringify(raw)}`);
    authThrottle[field] = value;
  }
  const throttle = Object.keys(authThrottle).length > 0 ? { authThrottle } : {};
  if (Object.keys(authThrottle).length > 0 && options.token === undefined) {
    process.stderr.write('server: --auth-delay and --auth-max-delay only apply with --token; ignored\n');
  }
  const { redis, source: redisSource } = redisOption(values, process.env, options.dataFile);
  return {
    options: { ...options, ...lists, ...throttle, ...(redis === undefined ? {} : { redis }) } as NodeServerOptions,
    app: values['no-app'] !== true,
    redisSource,
  };
}

const { options, app: serveApp, redisSource } = parseOptions(process.argv.slice(2));

// The apps are a convenience: when they are not there, the sync server still runs.
const app: AppBundle | undefined = serveApp ? loadBuiltApps((message) => process.stderr.write(`server: ${message}\n`)) : undefined;

let running: RunningServer;
try {
  // The program is the test bench: its control routes are always on.
  running = await startSyncServer({ ...options, control: true, ...(app === undefined ? {} : { staticHandler: app.staticHandler }) });
} catch (error) {
  // A bad value (TypeError/RangeError from validation) is a usage error; anything else (a corrupt
  // data file, a port in use) is a failure to start.
  if (error instanceof TypeError || error instanceof RangeError) usageError(nameFlags(error.message, { 'redis.url': redisSource }));
  // A bad ACL file: its message names the file, the line and the field; no usage text to bury it.
  if (error instanceof AclError) {
    process.stderr.write(`server: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`server: ${(error as Error).message}\n`);
  process.exit(1);
}

// On Linux, warn when the connection caps allow more sockets than this process may open.
if (process.platform === 'linux') {
  let limits: string | undefined;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    // Not readable (a sandbox): no warning.
  }
  const warning = limits === undefined ? undefined : descriptorWarning(options.maxConnections ?? DEFAULT_SERVER_OPTIONS.maxConnections, openFilesSoftLimit(limits));
  if (warning !== undefined) process.stderr.write(`${warning}\n`);
}

const base = `${running.host.includes(':') ? `[${running.host}]` : running.host}:${running.port}`;
// Printed before the listening line, so that whoever waits for that line has the token too.
// A token given with --control-token is the caller's already: it is not echoed into logs.
if (options.controlToken === undefined) process.stdout.write(`control token: ${running.controlToken}\n`);
// Which store the instance runs on: every instance of one Redis prefix must say the same here.
if (options.redis !== undefined) process.stdout.write(`store: Redis at ${redactUrl(options.redis.url)}, key prefix ${options.redis.prefix ?? DEFAULT_PREFIX}\n`);
process.stdout.write(`listening on ws://${base}\n`);
if (app?.files.has('/') === true) process.stdout.write(`app: http://${base}/\n`);
if (app?.files.has(REACT_APP_BASE) === true) process.stdout.write(`react: http://${base}${REACT_APP_BASE}\n`);
process.stdout.write(
  `control: POST http://${base}/control/{drop,close,stall,garbage,oversized,restart,change[?channel=NAME]}, GET http://${base}/control/state[?channel=NAME] ` +
    `(header "Authorization: Bearer <control token>")\n`,
);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  running.close().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`server: error while closing: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
