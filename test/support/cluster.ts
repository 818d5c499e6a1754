/**
 * nginx and statesocket-server instances for integration tests, from the same module `npm run
 * cluster` uses (scripts/cluster/). Importing this module installs the afterAll that stops
 * whatever a test file left running (nginx's directory removed, every instance ended).
 */
import { afterAll } from 'vitest';
import { startInstance as launchInstance, type Instance, type InstanceOptions } from '../../scripts/cluster/instance.js';
import { startCluster as launchCluster, type Cluster, type ClusterOptions } from '../../scripts/cluster/launch.js';
import { startNginx as launchNginx, type NginxProcess } from '../../scripts/cluster/nginx.js';

export type { Cluster, Instance, NginxProcess };

const running = new Set<{ stop(): Promise<void> }>();
afterAll(async () => {
  const parts = [...running];
  running.clear();
  await Promise.allSettled(parts.map((part) => part.stop()));
});

function tracked<T extends { stop(): Promise<void> }>(part: T): T {
  running.add(part);
  return part;
}

/** nginx (deploy/nginx.conf) on a free port of 127.0.0.1, balancing across `upstreams` (ports on 127.0.0.1). */
export async function startNginx(upstreams: readonly number[]): Promise<NginxProcess> {
  return tracked(await launchNginx(upstreams));
}

/** One statesocket-server process (scripts/server.ts) on a free port, trusting a proxy on 127.0.0.1. */
export async function startInstance(options: InstanceOptions = {}): Promise<Instance> {
  return tracked(await launchInstance(options));
}

/** Instances and nginx in front of them, as `npm run cluster` starts them. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  return tracked(await launchCluster(options));
}

/** The counters of an instance's `GET /control/state` (its control token). */
export async function countersOf<T = Record<string, number>>(instance: Instance): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${instance.port}/control/state`, { headers: { authorization: `Bearer ${instance.controlToken}` } });
  if (!response.ok) throw new Error(`GET /control/state on port ${instance.port}: ${response.status}`);
  return ((await response.json()) as { counters: T }).counters;
}
