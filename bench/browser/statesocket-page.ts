/**
 * The browser scenario's statesocket page: a connection with the sync protocol (version 1, as
 * scenario 1's `sync` row), its Model a counting `createStore()`, its View scenario 1's rows view,
 * renders coalesced by `animationFrameScheduler()`. The browser's own `WebSocket`.
 */
import { animationFrameScheduler, createConnection, createSyncProtocol } from '../../src/index.js';
import { createCountingStore, createRowsView } from '../workload.js';
import { expose, measure } from './page.js';

expose((url, n) => {
  const model = createCountingStore();
  const view = createRowsView();
  const done = measure(model, view, n, () => connection.stop());
  const connection = createConnection({ url, protocol: createSyncProtocol(), model, view, reconnect: false, schedule: animationFrameScheduler() });
  return done;
});
