/**
 * A cluster: statesocket-server instances and nginx in front of them, as child processes; what
 * `npm run cluster` runs, and what the integration tests of balancing and failover start.
 * A start that fails stops what it had started.
 */
import { startInstance, type Instance, type InstanceOptions } from './instance.js';
import { findNginx, startNginx, type NginxProcess } from './nginx.js';

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
