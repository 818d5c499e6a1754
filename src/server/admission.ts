/**
 * Sockets before their upgrade: counted apart from WebSockets, under the same caps.
 *
 * Until it upgrades, a socket is not in `admitted`/`perAddress`; without this count half-sent
 * upgrade requests exhausted file descriptors past any cap (hostile review a4/a4b: 2,000 open
 * with --max-connections 5). Over a cap the socket is destroyed on arrival: nothing was read,
 * there is no one to tell. Sockets from a trusted proxy share its address: only the total counts them.
 * So at most maxConnections WebSockets plus max(maxConnections, 64) unupgraded sockets are open at once.
 */
import type { Socket } from 'node:net';
import { addressGroup, normalizeAddress } from './access.js';
import { SERVER_LIMITS, type ResolvedServerOptions } from './server-options.js';

export interface UnupgradedSockets {
  /** The HTTP server's `connection` listener: counts the socket, or destroys it over a cap. */
  onConnection(socket: Socket): void;
  /** Takes a socket out of the counts when it upgrades (it counts as a WebSocket from then on). */
  upgraded(socket: object): void;
  /** Sockets open now that have not upgraded. */
  count(): number;
}

export function countUnupgradedSockets(
  opts: Pick<ResolvedServerOptions, 'maxConnections' | 'maxConnectionsPerAddress' | 'trustProxy'>,
  stats: { socketsRefused: number },
): UnupgradedSockets {
  const maxUnupgraded = Math.max(opts.maxConnections, SERVER_LIMITS.minUnupgradedSockets);
  const maxUnupgradedPerAddress = Math.max(opts.maxConnectionsPerAddress, SERVER_LIMITS.minUnupgradedSocketsPerAddress);
  let unupgraded = 0;
  const unupgradedPerAddress = new Map<string, number>();
  /** Per unupgraded socket: takes it out of the counts (once; on its upgrade or its close). */
  const leaveUnupgraded = new WeakMap<object, () => void>();
  const onConnection = (socket: Socket) => {
    const peer = normalizeAddress(socket.remoteAddress ?? 'unknown');
    const perPeer = !opts.trustProxy.has(peer);
    const address = addressGroup(peer);
    const fromAddress = perPeer ? (unupgradedPerAddress.get(address) ?? 0) : 0;
    if (unupgraded >= maxUnupgraded || fromAddress >= maxUnupgradedPerAddress) {
      stats.socketsRefused++;
      socket.destroy();
      return;
    }
    unupgraded++;
    if (perPeer) unupgradedPerAddress.set(address, fromAddress + 1);
    const leave = () => {
      if (!leaveUnupgraded.delete(socket)) return;
      unupgraded--;
      if (!perPeer) return;
      const left = (unupgradedPerAddress.get(address) ?? 1) - 1;
      if (left > 0) unupgradedPerAddress.set(address, left);
      else unupgradedPerAddress.delete(address);
    };
    leaveUnupgraded.set(socket, leave);
    socket.once('close', leave);
  };

  return {
    onConnection,
    upgraded: (socket) => leaveUnupgraded.get(socket)?.(),
    count: () => unupgraded,
  };
}
