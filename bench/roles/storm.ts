/**
 * Scenario 3b, client side: `clients` connections with each library's default
 * reconnect settings. Once all are open it reports `ready`; after the parent
 * kills and restarts the server it reports, for every connection, when it was
 * lost and when it opened again.
 */
import { connect, type BenchConnection, type Library } from '../adapters.js';
import { Counter } from '../lib/counter.js';
import { finish, next, send } from '../lib/ipc.js';
import { createCountingStore } from '../workload.js';

export interface StormParams {
  library: Library;
  url: string;
  clients: number;
  batch: number;
  openTimeoutMs: number;
}

export async function stormRole(params: StormParams): Promise<never> {
  const { clients } = params;
  const downAt = new Float64Array(clients).fill(NaN);
  const reopenAt = new Float64Array(clients).fill(NaN);
  const opened = new Counter();
  const reopened = new Counter();
  let armed = false;
  const handles: BenchConnection[] = [];
  for (let first = 0; first < clients; first += params.batch) {
    const last = Math.min(clients, first + params.batch);
    for (let i = first; i < last; i++) {
      let everOpen = false;
      handles.push(
        connect(params.library, {
          url: params.url,
          model: createCountingStore(),
          reconnect: 'default',
          onOpen: (at) => {
            if (!everOpen) {
              everOpen = true;
              opened.add();
            } else if (armed && !Number.isNaN(downAt[i]!) && Number.isNaN(reopenAt[i]!)) {
              reopenAt[i] = at;
              reopened.add();
            }
          },
          onDown: (at) => {
            if (armed && Number.isNaN(downAt[i]!)) downAt[i] = at;
          },
        }),
      );
    }
    await opened.reach(last, params.openTimeoutMs, 'connections to open');
  }
  armed = true;
  await send({ type: 'ready' });
  // Report when every connection is back, or when the parent stops waiting.
  await Promise.race([reopened.reach(clients, 2 ** 31 - 1, 'reopened'), next('finish')]);
  return finish({ type: 'result', downAt: Array.from(downAt), reopenAt: Array.from(reopenAt) });
}
