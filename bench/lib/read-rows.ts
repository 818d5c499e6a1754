/**
 * The read rows the probes share (bench/probes/hot-path.ts, bench/probes/channel-cost.ts): a connection on the
 * fake socket reading `n` prepared frames, one per read, as scenario 6's `connection (sync)` and `channel (v2),
 * one frame per read` rows do.
 */
import { createStore } from '../../src/store.js';
import { createSyncProtocol } from '../../src/sync/client-protocol.js';
import { createChannelProtocol } from '../../src/sync/client-protocol-v2.js';
import { createTestConnection } from '../../src/testing/test-connection.js';
import { BLAST_EPOCH } from '../wire.js';

/** The sync protocol (no channels): the snapshot, then `frames[0..n)`. */
export function readSync(n: number, snapshot: string, frames: readonly string[]): void {
  const t = createTestConnection({ protocol: createSyncProtocol(), model: createStore() });
  const socket = t.open();
  socket.receive(snapshot);
  for (let i = 0; i < n; i++) socket.receive(frames[i]!);
  t.connection.stop();
}

/** The sync protocol version 2, channel `prices` live (welcome, its snapshot, synced), then `frames[0..n)` on it. */
export function readChannel(n: number, welcome: string, frames: readonly string[]): void {
  const t = createTestConnection({ protocol: createChannelProtocol({ defaultChannel: false }) });
  t.connection.channel('prices', { model: createStore() });
  const socket = t.open();
  socket.receive(welcome, JSON.stringify({ type: 'snapshot', channel: 'prices', epoch: BLAST_EPOCH, seq: 0, data: {} }));
  socket.receive(JSON.stringify({ type: 'synced', channel: 'prices', epoch: BLAST_EPOCH, seq: 0 }));
  for (let i = 0; i < n; i++) socket.receive(frames[i]!);
  t.connection.stop();
}
