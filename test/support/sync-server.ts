/**
 * A sync server for the server's unit tests: `createSyncServer` (the logic, no transport) on a
 * `TestClock` that starts at 1,000,000 ms, closed after the test. Tests play its peers with
 * `server.connect({ send, close, bufferedAmount })` and read the frames it sends as `Frame`s.
 */
import { createSyncServer, type SyncServer, type SyncServerOptions } from '../../src/server/sync-server.js';
import { TestClock } from '../../src/testing/clock.js';
import { onCleanup } from './cleanup.js';

/** A frame the server sent, parsed. */
export interface Frame {
  type: string;
  [key: string]: unknown;
}

export function testSyncServer(options: SyncServerOptions = {}): { clock: TestClock; server: SyncServer } {
  const clock = new TestClock();
  clock.set(1_000_000);
  const server = createSyncServer({ timers: clock, ...options });
  onCleanup(() => server.close());
  return { clock, server };
}
