/**
 * Sockets before their upgrade: counted apart from WebSockets, under the same caps.
 *
 * Until it upgrades, a socket is not in `admitted`/`perAddress`; without this count half-sent
 * upgrade requests exhausted file descriptors past any cap (hostile review a4/a4b: 2,000 open
 * with --max-connections 5). Over a cap the socket is destroyed on arrival: nothing was read,
 * there is no one to tell. Sockets from a trusted proxy share its address: only the total counts them.
 * So at most maxConnections WebSockets plus max(maxConnections, 64) unupgraded sockets are open at once,
 * at most `SERVER_LIMITS.unupgradedSocketsPerAddress` of them from one address; `descriptorWarning`
 * tells the program when that is more than the process may open.
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
  opts: Pick<ResolvedServerOptions, 'maxConnections' | 'trustProxy'>,
  stats: { socketsRefused: number },
): UnupgradedSockets {
  const maxUnupgraded = Math.max(opts.maxConnections, SERVER_LIMITS.minUnupgradedSockets);
  const maxUnupgradedPerAddress = SERVER_LIMITS.unupgradedSocketsPerAddress;
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

/**
 * The soft limit on open files in the text of Linux's /proc/self/limits (the `Max open files`
 * row); undefined when the row is missing or the limit is unlimited.
 */
export function openFilesSoftLimit(limits: string): number | undefined {
  const row = /^Max open files\s+(\S+)/m.exec(limits);
  if (row === null || !/^\d+$/.test(row[1]!)) return undefined;
  return Number(row[1]);
}

/**
 * A warning when the connection caps allow more sockets than the process may open (`softLimit`,
 * see `openFilesSoftLimit`): `maxConnections` WebSockets, max(`maxConnections`,
 * `SERVER_LIMITS.minUnupgradedSockets`) sockets not yet upgraded, and a few more descriptors.
 * Past the limit, accepting fails with EMFILE and nobody can connect. Undefined when they fit.
 * At most floor((softLimit - `SERVER_LIMITS.reservedDescriptors`) / 2) connections fit.
 */
export function descriptorWarning(maxConnections: number, softLimit: number | undefined): string | undefined {
  if (softLimit === undefined) return undefined;
  const unupgraded = Math.max(maxConnections, SERVER_LIMITS.minUnupgradedSockets);
  const needed = maxConnections + unupgraded + SERVER_LIMITS.reservedDescriptors;
  if (needed <= softLimit) return undefined;
  // One short line (hostile review 12, item 15: four terminal lines at every default start);
  // docs/cli.md explains the count and both remedies.
  return `warning: ulimit -n ${softLimit} is too low for --max-connections ${maxConnections} (needs ${needed}; see docs/cli.md)`;
}
