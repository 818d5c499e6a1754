/**
 * Scenario 4, client side: one connection per library, statesocket with its
 * heartbeat on. The parent SIGSTOPs the server (the kernel keeps the TCP
 * connections established: a half-open link) and asks, after a bounded wait,
 * which connections noticed and when.
 */
import { connect, LIBRARIES, type BenchConnection, type Library } from '../adapters.js';
import { Counter } from '../lib/counter.js';
import { finish, next, send } from '../lib/ipc.js';
import { createCountingStore } from '../workload.js';

export interface HalfOpenParams {
  url: string;
  heartbeat: { intervalMs: number; timeoutMs: number };
  openTimeoutMs: number;
}

export async function halfOpenRole(params: HalfOpenParams): Promise<never> {
  const downs: Partial<Record<Library, number>> = {};
  const opened = new Counter();
  const handles: BenchConnection[] = [];
  for (const library of LIBRARIES) {
    let first = true;
    handles.push(
      connect(library, {
        url: params.url,
        model: createCountingStore(),
        reconnect: 'default',
        heartbeat: params.heartbeat,
        onOpen: () => {
          if (first) opened.add();
          first = false;
        },
        onDown: (at) => {
          downs[library] ??= at;
        },
      }),
    );
  }
  await opened.reach(LIBRARIES.length, params.openTimeoutMs, 'every library to open');
  await send({ type: 'ready' });
  await next('finish');
  return finish({ type: 'result', downs });
}
