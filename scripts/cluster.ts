#!/usr/bin/env node
/**
 * `npm run cluster -- [flags]`: several statesocket-server instances on one Redis behind nginx, on
 * free ports of 127.0.0.1, nothing installed as a service. A thin program over scripts/cluster/ (launch.ts: instances plus nginx).
 */
import { parseArgs } from 'node:util';
import { buildAssets } from './build-assets.js';
import { startCluster, type Cluster } from './cluster/launch.js';
import { findNginx } from './cluster/nginx.js';
import { checkRedis, DEFAULT_REDIS_URL } from './cluster/resp.js';
import { redactUrl } from '../src/redact.js';

const USAGE = `usage: npm run cluster -- [flags] [-- server flags]

Starts N statesocket-server instances (--trust-proxy 127.0.0.1, each on a free port) sharing one Redis,
and nginx in front of them (deploy/nginx.conf, run unprivileged from a temporary directory), then
prints the URL clients connect to. Ctrl-C (or SIGTERM, to npm run cluster's npm or to this process) stops everything and removes the directory.

  --instances N       instances to start (default 3)
  --redis URL         the Redis they share (default: $REDIS_URL, else ${DEFAULT_REDIS_URL})
  --redis-prefix P    put before every Redis key (default: the engine's)
  --memory            no Redis: each instance keeps its own state in memory (to try nginx alone:
                      clients of different instances do not see each other's changes)
  --port N            nginx's port (default: a free one)
  --duration S        stop everything after S seconds (default: run until stopped)
  -h, --help          show this help

Flags after -- go to every instance, e.g. npm run cluster -- -- --feed-rate 5
`;

function usageError(message: string): never {
  process.stderr.write(`cluster: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function wholeNumber(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) usageError(`--${flag} takes a whole number from ${min} to ${max}; received ${JSON.stringify(raw)}`);
  return value;
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    args: process.argv.slice(2),
    strict: true,
    allowPositionals: true,
    options: {
      instances: { type: 'string' },
      redis: { type: 'string' },
      'redis-prefix': { type: 'string' },
      memory: { type: 'boolean' },
      port: { type: 'string' },
      duration: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
try {
  parsed = parse();
} catch (error) {
  usageError((error as Error).message);
}
const { values, positionals: serverArgs } = parsed;
if (values.help === true) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const instances = wholeNumber('instances', values.instances, 1, 64) ?? 3;
const port = wholeNumber('port', values.port, 1, 65_535);
const durationS = wholeNumber('duration', values.duration, 1, 86_400);
if (values.memory === true && (values.redis !== undefined || values['redis-prefix'] !== undefined)) usageError('--memory runs without Redis: leave out --redis and --redis-prefix');
const redisUrl = values.redis ?? (process.env.REDIS_URL === undefined || process.env.REDIS_URL === '' ? DEFAULT_REDIS_URL : process.env.REDIS_URL);
const prefix = values['redis-prefix'];
const redis = values.memory === true ? undefined : { url: redisUrl, ...(prefix === undefined ? {} : { prefix }) };

function fail(message: string): never {
  process.stderr.write(`cluster: ${message}\n`);
  process.exit(1);
}

// What is missing is said first, before anything starts.
try {
  findNginx();
} catch (error) {
  fail((error as Error).message);
}
if (redis !== undefined) {
  try {
    await checkRedis(redis.url);
  } catch (error) {
    fail((error as Error).message);
  }
}

// As `npm run server` does: the app the instances serve matches the source.
try {
  await buildAssets();
} catch (error) {
  process.stderr.write(`cluster: the browser files were not built (${(error as Error).message}); the instances serve the WebSocket only\n`);
}

let cluster: Cluster;
try {
  cluster = await startCluster({ instances, ...(redis === undefined ? {} : { redis }), serverArgs, ...(port === undefined ? {} : { port }) });
} catch (error) {
  fail((error as Error).message);
}

const where = redis === undefined ? 'each on its own memory (--memory)' : `on Redis ${redactUrl(redis.url)}`;
process.stdout.write(
  [
    `cluster: ${instances} instance${instances === 1 ? '' : 's'} ${where}, behind nginx`,
    `listening on ${cluster.url}   (the app: ${cluster.nginx.httpUrl})`,
    ...cluster.instances.map((instance, index) => `  instance ${index + 1}: ${instance.url} (pid ${instance.pid}; /control/ on this port only, token ${instance.controlToken})`),
    `  nginx: ${cluster.nginx.dir} (nginx.conf, access.log)`,
    durationS === undefined ? 'Ctrl-C stops everything.' : `stopping after ${durationS} s (or Ctrl-C).`,
    '',
  ].join('\n'),
);

let stopping = false;
function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  clearTimeout(durationTimer);
  void cluster.stop().then(() => {
    process.stdout.write('cluster: stopped\n');
    process.exit(code);
  });
}
const durationTimer = durationS === undefined ? undefined : setTimeout(() => stop(0), durationS * 1000);
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

// An instance that dies leaves nginx the others; nginx dying leaves nothing to connect to.
cluster.instances.forEach((instance, index) => {
  void instance.exited.then((code) => {
    if (!stopping) process.stderr.write(`cluster: instance ${index + 1} (port ${instance.port}) exited with ${String(code)}; nginx sends its clients to the others\n${instance.output()}\n`);
  });
});
void cluster.nginx.exited.then((code) => {
  if (stopping) return;
  process.stderr.write(`cluster: nginx exited with ${String(code)}:\n${cluster.nginx.output()}\n`);
  stop(1);
});
