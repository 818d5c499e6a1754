/**
 * Slow consumers against the reference server process: connections that
 * complete the handshake, say hello and never read again are closed (1013)
 * and then terminated, while a reading client is untouched. Small sizes; the
 * only waits are bounded polls of /control/state.
 */
import { afterEach, describe, expect, it } from 'vitest';
import '../support/cleanup.js';
import { control, eventually, killAll, serverState, startServerProcess, stopAllConnections, syncClient, waitFor } from '../integration/server-process.js';
import { nonReadingClient } from './raw-client.js';

afterEach(async () => {
  stopAllConnections();
  await killAll();
});

describe('slow consumers against the server process', () => {
  it('closes and frees connections that stop reading, and keeps serving a reading client', async () => {
    const server = await startServerProcess(['--no-app', '--max-buffered', '65536']);
    const reader = syncClient(server.url);
    await waitFor(reader, (s) => s.state === 'open', 'the reading client to open');
    for (let i = 0; i < 3; i++) await nonReadingClient(server.port);
    await eventually(() => serverState(server), (s) => s.counters.connections === 4, 'four connections');
    // 100 KB changes fill the kernel buffers of the non-reading links quickly, then the server's bound.
    const pad = 'x'.repeat(100_000);
    const state = await eventually(
      async () => {
        for (let i = 0; i < 10; i++) await control(server, 'change', { set: { pad: `${i}${pad}` } });
        return serverState(server);
      },
      (s) => s.counters.slowConsumers === 3 && s.counters.open === 1,
      'three slow consumers closed and terminated',
      60,
    );
    expect(state.counters.slowConsumers).toBe(3);
    await waitFor(reader, () => reader.model.getData().pad === state.data.pad, 'the reader to have the last change');
    expect(reader.getStatus().state).toBe('open');
  });
});
