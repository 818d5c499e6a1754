/**
 * One statesocket-server (scripts/server.ts) as a child process on a free port of 127.0.0.1,
 * trusting a proxy on 127.0.0.1: what `npm run cluster` runs behind nginx.
 */
import { randomBytes } from 'node:crypto';
import { LAUNCH_LIMITS, spawnChild, stopChild, type Child } from './child.js';

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
