/**
 * nginx as a child process, unprivileged, from a temporary directory of its own, running
 * deploy/nginx.conf retargeted at the given instances (scripts/cluster/nginx-config.ts).
 */
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort, LAUNCH_LIMITS, spawnChild, stopChild, waitForPort } from './child.js';
import { runnableNginxConfig } from './nginx-config.js';

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
