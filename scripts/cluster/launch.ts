/**
 * Starts statesocket-server instances and an unprivileged nginx in front of them, as child processes:
 * what `npm run cluster` runs, and what the integration tests of balancing and failover start.
 * Every wait is bounded; every start that fails stops what it had started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runnableNginxConfig } from './nginx-config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Bounds of the waits below; generous, since the machine may be busy. */
export const LAUNCH_LIMITS = {
  instanceStartMs: 20_000,
  nginxStartMs: 10_000,
  /** After SIGTERM, a process still running this long gets SIGKILL. */
  stopGraceMs: 5_000,
  /** Lines of a child's output kept for error messages. */
  outputLines: 200,
  /** Starts of nginx on a fresh free port when another process took the one picked. */
  nginxPortAttempts: 3,
} as const;

/** A child process, the tail of what it printed, and its exit. */
interface Child {
  readonly process: ChildProcess;
  /** The last `LAUNCH_LIMITS.outputLines` lines of stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** Calls `listener` with every chunk printed from now on; returns what stops it. */
  onOutput(listener: (text: string) => void): () => void;
}

function spawnChild(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Child {
  // A process group of its own: Ctrl-C in a terminal reaches only the program that started it,
  // which stops the children in order (nginx first), instead of all of them at once.
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  const lines: string[] = [];
  const listeners = new Set<(text: string) => void>();
  const record = (chunk: Buffer) => {
    const text = chunk.toString();
    lines.push(...text.split('\n').filter((line) => line !== ''));
    lines.splice(0, Math.max(0, lines.length - LAUNCH_LIMITS.outputLines));
    for (const listener of listeners) listener(text);
  };
  child.stdout?.on('data', record);
  child.stderr?.on('data', record);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    // A command that could not be started (ENOENT) emits 'error' and no 'exit'.
    child.once('error', (error) => {
      lines.push(error.message);
      resolve(null);
    });
  });
  const onOutput = (listener: (text: string) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  return { process: child, output: () => lines.join('\n'), exited, onOutput };
}

/** Sends `signal`, then SIGKILL if the child is still running after the grace period; resolves at its exit. */
async function stopChild(child: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill(signal);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), LAUNCH_LIMITS.stopGraceMs);
  await child.exited;
  clearTimeout(timer);
}

/** Resolves with the port once the server printed `listening on ws://127.0.0.1:PORT`; rejects at its exit or after the bound. */
function listeningPort(child: Child): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stopListening();
      outcome();
    };
    const timeoutMs = LAUNCH_LIMITS.instanceStartMs;
    const timer = setTimeout(() => settle(() => reject(new Error(`statesocket-server was not listening within ${timeoutMs} ms; it printed:\n${child.output()}`))), timeoutMs);
    const stopListening = child.onOutput((text) => {
      seen += text;
      const port = /^listening on ws:\/\/127\.0\.0\.1:(\d+)$/m.exec(seen)?.[1];
      if (port !== undefined) settle(() => resolve(Number(port)));
    });
    void child.exited.then((code) => settle(() => reject(new Error(`statesocket-server exited with ${String(code)} before listening:\n${child.output()}`))));
  });
}

/** A port no process listens on right now, on 127.0.0.1 (for programs that cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects when `exited` resolves first. */
async function waitForPort(port: number, exited: Promise<unknown>, what: string, timeoutMs: number): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${what} exited before listening on ${port}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
}

// ---- statesocket-server instances ----

export interface InstanceOptions {
  /** Redis-backed (`--redis URL`, `--redis-prefix PREFIX`); without it the instance keeps its own state in memory. */
  redis?: { url: string; prefix?: string };
  /** More flags for scripts/server.ts (`--feed-rate 5`, `--no-app`, ...). */
  serverArgs?: readonly string[];
}

/** One statesocket-server on a free port of 127.0.0.1, trusting a proxy on 127.0.0.1. */
export interface Instance {
  readonly port: number;
  /** `ws://127.0.0.1:PORT/`: the instance itself, not through nginx. */
  readonly url: string;
  /** Its `/control/` secret (on its own port only: nginx does not proxy `/control/`). */
  readonly controlToken: string;
  readonly pid: number;
  output(): string;
  readonly exited: Promise<number | null>;
  /** SIGTERM closes it cleanly (SIGKILL after the grace period); SIGKILL is a crash. Resolves at its exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts scripts/server.ts with node and tsx (no wrapper process: a signal reaches the server itself). */
export async function startInstance(options: InstanceOptions = {}): Promise<Instance> {
  const controlToken = randomBytes(16).toString('hex');
  const redis = options.redis === undefined ? [] : ['--redis', options.redis.url, ...(options.redis.prefix === undefined ? [] : ['--redis-prefix', options.redis.prefix])];
  // An instance meant to run on memory must not pick up a REDIS_URL from the environment.
  const { REDIS_URL: _fromEnvironment, ...env } = process.env;
  const child = spawnChild(process.execPath, [
    '--import',
    'tsx',
    'scripts/server.ts',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--trust-proxy',
    '127.0.0.1',
    '--control-token',
    controlToken,
    ...redis,
    ...(options.serverArgs ?? []),
  ], env);
  let port: number;
  try {
    port = await listeningPort(child);
  } catch (error) {
    await stopChild(child, 'SIGKILL');
    throw error;
  }
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    controlToken,
    pid: child.process.pid ?? 0,
    output: child.output,
    exited: child.exited,
    stop: (signal) => stopChild(child, signal),
  };
}

// ---- nginx ----

/** Where Debian, Fedora and Homebrew put nginx, besides the PATH (/usr/sbin is not on a user's PATH on Debian). */
const NGINX_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin'];

export const INSTALL_NGINX_HINT =
  'install it with `apt-get install -y nginx` (Debian/Ubuntu; no service needs to run: it is started unprivileged on a port of its own) ' +
  'or `brew install nginx` (macOS), or set NGINX to its path';

/** The nginx executable: $NGINX, else the PATH and the usual sbin directories; throws saying how to install it. */
export function findNginx(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = env.NGINX !== undefined && env.NGINX !== '' ? [env.NGINX] : [...(env.PATH ?? '').split(delimiter).filter((dir) => dir !== ''), ...NGINX_DIRS].map((dir) => join(dir, 'nginx'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not this one
    }
  }
  throw new Error(`nginx was not found (looked for ${env.NGINX ?? 'nginx on the PATH and in ' + NGINX_DIRS.join(', ')}): ${INSTALL_NGINX_HINT}`);
}

export interface NginxProcess {
  readonly port: number;
  /** `http://127.0.0.1:PORT/` */
  readonly httpUrl: string;
  /** `ws://127.0.0.1:PORT/`: what clients connect to. */
  readonly url: string;
  /** nginx's directory (`-p`): nginx.conf, pid file, access log; removed by `stop()`. */
  readonly dir: string;
  output(): string;
  readonly exited: Promise<number | null>;
  /** Fast shutdown (SIGTERM: open connections are closed), then removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

/**
 * nginx balancing WebSocket upgrades across instances on 127.0.0.1 `upstreamPorts`, listening on
 * `port` (default: a free one), from deploy/nginx.conf, in a temporary directory of its own.
 */
export async function startNginx(upstreamPorts: readonly number[], options: { port?: number } = {}): Promise<NginxProcess> {
  const nginx = findNginx();
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-nginx-'));
  // Run as root, nginx's workers become `nobody`: they must be able to reach their temp paths in here.
  chmodSync(dir, 0o711);
  const configFile = join(dir, 'nginx.conf');
  let lastError: unknown;
  try {
    for (let attempt = 0; attempt < LAUNCH_LIMITS.nginxPortAttempts; attempt++) {
      const port = options.port ?? (await freePort());
      writeFileSync(configFile, runnableNginxConfig({ dir, listenPort: port, upstreamPorts }));
      const child = spawnChild(nginx, ['-p', dir, '-c', configFile, '-e', 'stderr']);
      try {
        await waitForPort(port, child.exited, 'nginx', LAUNCH_LIMITS.nginxStartMs);
      } catch (error) {
        await stopChild(child, 'SIGKILL');
        lastError = new Error(`${(error as Error).message}:\n${child.output()}`);
        // Another process took the free port between the check and nginx's bind: try another.
        if (options.port === undefined && /Address already in use/.test(child.output())) continue;
        throw lastError;
      }
      let stopping: Promise<void> | undefined;
      return {
        port,
        httpUrl: `http://127.0.0.1:${port}/`,
        url: `ws://127.0.0.1:${port}/`,
        dir,
        output: child.output,
        exited: child.exited,
        stop() {
          stopping ??= stopChild(child).then(() => rmSync(dir, { recursive: true, force: true }));
          return stopping;
        },
      };
    }
    throw lastError;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

// ---- a cluster: instances plus nginx ----

export interface ClusterOptions extends InstanceOptions {
  /** @default 3 */
  instances?: number;
  /** nginx's port. @default a free one */
  port?: number;
}

export interface Cluster {
  /** `ws://127.0.0.1:PORT/`: nginx, what clients connect to. */
  readonly url: string;
  readonly nginx: NginxProcess;
  readonly instances: readonly Instance[];
  /** Stops nginx, then every instance (SIGTERM), and removes nginx's directory. Idempotent. */
  stop(): Promise<void>;
}

/** Stops everything given, each at most once, whatever the others do. */
async function stopAll(parts: ReadonlyArray<{ stop(): Promise<void> }>): Promise<void> {
  await Promise.allSettled(parts.map((part) => part.stop()));
}

/** Starts `instances` instances (in parallel) and nginx in front of them. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const count = options.instances ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new RangeError(`instances must be a whole number from 1 to 64; received ${String(count)}`);
  findNginx(); // before any instance starts: the message says how to install it
  const started = await Promise.allSettled(Array.from({ length: count }, () => startInstance(options)));
  const instances = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) {
    await stopAll(instances);
    throw failed.reason;
  }
  let nginx: NginxProcess;
  try {
    nginx = await startNginx(
      instances.map((instance) => instance.port),
      options.port === undefined ? {} : { port: options.port },
    );
  } catch (error) {
    await stopAll(instances);
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    url: nginx.url,
    nginx,
    instances,
    stop() {
      stopping ??= nginx.stop().finally(() => stopAll(instances));
      return stopping;
    },
  };
}
