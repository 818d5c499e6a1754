/**
 * Several statesocket-server processes behind nginx, started as `npm run cluster` starts them, here
 * on the memory engine (each instance its own state): upgrades spread over the instances, /control/
 * stays on each instance's own port, and the clients of a killed instance reconnect through nginx
 * to the others. Waits are on events or bounded polls; nothing is timed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, startInstance, type Instance } from '../support/cluster.js';
import { eventually, serverState, stopAllConnections, syncClient, waitFor } from './server-process.js';

afterEach(() => stopAllConnections());

const isOpen = (status: { state: string }) => status.state === 'open';

/** WebSocket connections open on each instance now (read on its own port). */
async function connectionsOf(instances: readonly Instance[]): Promise<number[]> {
  const states = await Promise.all(instances.map((instance) => serverState({ port: instance.port, controlToken: instance.controlToken })));
  return states.map((state) => state.counters.connections);
}

describe('a cluster behind nginx', () => {
  it('spreads WebSocket connections over every instance, and serves none of /control/', async () => {
    const cluster = await startCluster({ instances: 3, serverArgs: ['--no-app'] });
    const clients = Array.from({ length: 6 }, () => syncClient(cluster.url));
    await Promise.all(clients.map((client) => waitFor(client, isOpen, 'open through nginx')));
    const spread = await eventually(() => connectionsOf(cluster.instances), (counts) => counts.reduce((a, b) => a + b, 0) === 6, '6 connections');
    for (const count of spread) expect(count).toBeGreaterThan(0);

    const [first] = cluster.instances;
    if (first === undefined) throw new Error('no instance');
    const headers = { authorization: `Bearer ${first.controlToken}` };
    expect((await fetch(`http://127.0.0.1:${first.port}/control/state`, { headers })).status).toBe(200);
    const throughNginx = await fetch(`${cluster.nginx.httpUrl}control/state`, { headers });
    expect(throughNginx.status).toBe(404);
    expect(await throughNginx.text()).toContain('nginx');
  });

  it("sends a killed instance's clients to the others at their next attempt", async () => {
    const cluster = await startCluster({ instances: 3, serverArgs: ['--no-app'] });
    const clients = Array.from({ length: 9 }, () => syncClient(cluster.url));
    await Promise.all(clients.map((client) => waitFor(client, isOpen, 'open through nginx')));
    const [victim, ...survivors] = cluster.instances;
    if (victim === undefined) throw new Error('no instance');
    const before = await eventually(() => connectionsOf(cluster.instances), (counts) => counts.reduce((a, b) => a + b, 0) === 9, '9 connections');
    expect(before[0]).toBeGreaterThan(0);
    const opensBefore = clients.map((client) => client.history.filter((entry) => entry.state === 'open').length);

    await victim.stop('SIGKILL');

    // The victim's clients saw their socket close and opened again, through nginx, on the survivors.
    const after = await eventually(() => connectionsOf(survivors), (counts) => counts.reduce((a, b) => a + b, 0) === 9, 'all 9 on the survivors');
    expect(after.reduce((a, b) => a + b, 0)).toBe(9);
    await Promise.all(clients.map((client) => waitFor(client, isOpen, 'open again')));
    const reopened = clients.filter((client, index) => client.history.filter((entry) => entry.state === 'open').length > (opensBefore[index] ?? 0));
    expect(reopened.length).toBe(before[0]);
  });

  it('starts an instance without Redis on memory even when REDIS_URL is set around it', async () => {
    const saved = process.env.REDIS_URL;
    process.env.REDIS_URL = 'redis://127.0.0.1:6379';
    try {
      // scripts/server.ts would take REDIS_URL and refuse to start (no Redis engine in this build).
      const instance = await startInstance({ serverArgs: ['--no-app'] });
      expect((await serverState({ port: instance.port, controlToken: instance.controlToken })).counters.connections).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = saved;
    }
  });
});
