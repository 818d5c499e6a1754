/**
 * `useConnectionStatus`: the status a badge shows. It re-renders when the state, the attempt, the
 * next retry time, the last error, what an errored connection waits for (`parked`) or `online`
 * change: never for a counter (a message received, a frame sent, a render).
 */
import { useCallback, useSyncExternalStore } from 'react';
import { IDLE_STATUS } from '../status.js';
import type { ConnectionStatus } from '../types.js';
import { useConnectionFrom, type AnyConnection } from './connection.js';

/** The status each connection's hooks show: the same object until a field they show changes. */
const shown = new WeakMap<AnyConnection, ConnectionStatus>();

/** The fields that re-render: counters, outbox size, last close and the like do not. */
function sameShown(a: ConnectionStatus, b: ConnectionStatus): boolean {
  return (
    a.state === b.state &&
    a.attempt === b.attempt &&
    a.nextRetryAt === b.nextRetryAt &&
    a.lastError === b.lastError &&
    a.parked === b.parked &&
    a.online === b.online
  );
}

function shownStatus(connection: AnyConnection): ConnectionStatus {
  const status = connection.getStatus();
  const last = shown.get(connection);
  if (last !== undefined && sameShown(last, status)) return last;
  shown.set(connection, status);
  return status;
}

/** What a server render shows (and hydration, before the connection starts): idle, nothing counted. */
export const SERVER_STATUS: ConnectionStatus = IDLE_STATUS;

const serverStatus = () => SERVER_STATUS;

/**
 * The connection's status (`connection`, else the nearest provider's). Re-renders only when
 * `state`, `attempt`, `nextRetryAt`, `lastError`, `parked` or `online` change; the other fields
 * (counters among them) are as they were at that change. On the server: idle.
 * @throws StatesocketError `ERR_NO_CONNECTION` without a connection outside a provider
 */
export function useConnectionStatus(connection?: AnyConnection): ConnectionStatus {
  const target = useConnectionFrom(connection, 'useConnectionStatus()');
  const subscribe = useCallback((listener: () => void) => target.subscribe(listener), [target]);
  const getSnapshot = useCallback(() => shownStatus(target), [target]);
  return useSyncExternalStore(subscribe, getSnapshot, serverStatus);
}
