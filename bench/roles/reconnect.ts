/**
 * Scenario 3, client side: one connection with the smallest reconnect delays
 * its library allows. Reports every `open` (with the times the socket that
 * opened was constructed, i.e. its retry started, and completed its handshake)
 * and every loss of an open connection; the parent kills and restarts the
 * server around it.
 */
import { connect, timedWebSocket, type Library } from '../adapters.js';
import { finish, next, send } from '../lib/ipc.js';
import { createCountingStore } from '../workload.js';

export interface ReconnectParams {
  library: Library;
  url: string;
}

export async function reconnectRole(params: ReconnectParams): Promise<never> {
  let constructedAt = NaN;
  let socketOpenAt = NaN;
  const connection = connect(params.library, {
    url: params.url,
    model: createCountingStore(),
    reconnect: 'fastest',
    WebSocket: timedWebSocket(
      (at) => {
        constructedAt = at;
      },
      (at) => {
        socketOpenAt = at;
      },
    ),
    onOpen: (at) => void send({ type: 'open', at, constructedAt, socketOpenAt }),
    onDown: (at) => void send({ type: 'down', at }),
  });
  await next('finish');
  connection.close();
  return finish({ type: 'done' });
}
