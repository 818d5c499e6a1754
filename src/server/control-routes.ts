/**
 * The fault-injection routes of the test bench, `/control/<fault>` on the server's HTTP port:
 * drop · close · stall · garbage · oversized · restart · change (POST) and state (GET).
 * Who may use them: a loopback peer and Host, no foreign Origin, the control token
 * (`Authorization: Bearer`), and JSON bodies only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocket } from 'ws';
import { isServerSendableCloseCode } from './close-codes.js';
import type { Changes } from '../sync/messages.js';
import { DEFAULT_CHANNEL, NAME_RULE, isChannelName } from '../sync/messages-v2.js';
import { bearerToken, clientAddress, isJsonContentType, isLoopbackAddress, isLoopbackName, judgeOrigin, parseHost, serverNames } from './access.js';
import { SERVER_LIMITS, type ResolvedServerOptions } from './server-options.js';
import type { FaultCounters, ServerStats } from './server-stats.js';
import { ChangeRefusedError, type SyncServer } from './sync-server.js';
import { tokensEqual } from './token-equal.js';
import type { Client, Held } from './ws-client.js';

export class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
/** Answers an HTTP request with a JSON body, never cached. */
export function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(payload)),
    ...headers,
  });
  res.end(payload);
}

/** What the control routes act on: the server's connections, its core and its counters. */
export interface ControlRoutesContext {
  clients: ReadonlySet<Client>;
  core: SyncServer;
  faults: FaultCounters;
  stats: { controlRefusals: number };
  /** Sends through the stall (see the server's `transmit`). */
  transmit: (client: Client, item: Held) => void;
  snapshotStats: () => ServerStats;
  opts: Pick<ResolvedServerOptions, 'trustProxy'> & { controlToken: string };
}

/** Returns the handler of `/control/*` requests (`url` is the parsed request URL). */
export function createControlRoutes(context: ControlRoutesContext): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> {
  const { clients, core, faults, stats, transmit, snapshotStats, opts } = context;

  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > SERVER_LIMITS.maxControlBodyBytes) {
          reject(new ControlError(413, `the body is over ${SERVER_LIMITS.maxControlBodyBytes} bytes`));
          req.resume();
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  const intParam = (query: URLSearchParams, name: string, fallback: number, min: number, max: number): number => {
    const raw = query.get(name);
    if (raw === null) return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(value >= min && value <= max)) {
      throw new ControlError(400, `${name} must be a whole number from ${min} to ${max}; received ${JSON.stringify(raw)}`);
    }
    return value;
  };

  const openClients = () => [...clients].filter((client) => client.ws.readyState === WebSocket.OPEN);

  const countFault = (kind: Exclude<keyof FaultCounters, 'total'>) => {
    faults[kind]++;
    faults.total++;
  };

  const terminateAll = () => {
    for (const client of clients) client.ws.terminate();
  };

  const resume = (client: Client) => {
    clearTimeout(client.stallTimer);
    client.stallTimer = undefined;
    const held = client.held;
    if (held === null) return;
    client.held = null;
    client.heldBytes = 0;
    client.alive = true; // its pongs could not be read while stalled
    client.ws.resume();
    for (const item of held) transmit(client, item);
  };

  type Action = (query: URLSearchParams, req: IncomingMessage) => Promise<Record<string, unknown>> | Record<string, unknown>;
  const postActions: Record<string, Action> = {
    drop: () => {
      const sockets = clients.size;
      countFault('drop');
      terminateAll();
      return { sockets };
    },
    close: (query) => {
      const rawCode = query.get('code') ?? '1000';
      const reason = query.get('reason') ?? '';
      let code: number | undefined;
      if (rawCode === 'none') {
        if (reason !== '') throw new ControlError(400, 'a close frame without a code cannot carry a reason; drop reason or give a code');
      } else {
        code = /^\d+$/.test(rawCode) ? Number(rawCode) : NaN;
        if (!isServerSendableCloseCode(code)) {
          throw new ControlError(
            400,
            `code must be one a server may send (1000-1003, 1007-1014, 3000-4999) or "none"; received ${JSON.stringify(rawCode)}` +
              (code === 1005 ? ' (1005 is what the client reports for code=none)' : code === 1006 ? ' (use /control/drop for 1006)' : ''),
          );
        }
      }
      if (Buffer.byteLength(reason) > SERVER_LIMITS.maxCloseReasonBytes) {
        throw new ControlError(400, `reason must be at most ${SERVER_LIMITS.maxCloseReasonBytes} UTF-8 bytes; received ${Buffer.byteLength(reason)}`);
      }
      const targets = openClients();
      countFault('close');
      for (const client of targets) transmit(client, { kind: 'close', code, reason });
      return { sockets: targets.length, code: code ?? null, reason };
    },
    stall: (query) => {
      const ms = intParam(query, 'ms', SERVER_LIMITS.defaultStallMs, 1, SERVER_LIMITS.maxStallMs);
      const targets = openClients();
      countFault('stall');
      for (const client of targets) {
        client.held ??= [];
        client.ws.pause();
        clearTimeout(client.stallTimer);
        client.stallTimer = setTimeout(() => resume(client), ms);
      }
      return { sockets: targets.length, ms };
    },
    garbage: () => {
      const targets = openClients();
      countFault('garbage');
      for (const client of targets) transmit(client, { kind: 'frame', data: '{"type":"patch",' });
      return { sockets: targets.length };
    },
    oversized: (query) => {
      const shell = '{"type":"oversized","pad":""}';
      const bytes = intParam(query, 'bytes', SERVER_LIMITS.defaultOversizedBytes, shell.length, SERVER_LIMITS.maxOversizedBytes);
      const frame = `${shell.slice(0, -2)}${'x'.repeat(bytes - shell.length)}"}`;
      const targets = openClients();
      countFault('oversized');
      for (const client of targets) transmit(client, { kind: 'frame', data: frame });
      return { sockets: targets.length, bytes };
    },
    restart: () => {
      const sockets = clients.size;
      countFault('restart');
      core.restart();
      terminateAll();
      return { sockets, epoch: core.epoch };
    },
    change: async (_query, req) => {
      const body = await readBody(req);
      let value: unknown;
      try {
        value = JSON.parse(body);
      } catch (error) {
        throw new ControlError(400, `the body must be JSON {"set"?: {...}, "delete"?: [...]}: ${(error as Error).message}`);
      }
      // The same rule as ops (src/sync/values.ts), with the same message: core.change checks it.
      const channel = channelParam(_query);
      try {
        const patch = await core.change(value as Changes, channel);
        return { channel, epoch: patch.epoch, seq: patch.seq };
      } catch (error) {
        if (error instanceof ChangeRefusedError) throw new ControlError(400, `${error.code}: ${error.message}`);
        throw error;
      }
    },
  };

  /** The control routes answer only loopback names, whatever the server listens on. */
  const controlNames = serverNames('127.0.0.1');
  const NO_ORIGINS: ReadonlySet<string> = new Set();

  /** `?channel=NAME` (400 for a name that breaks the rule); `default` without one. */
  const channelParam = (query: URLSearchParams): string => {
    const name = query.get('channel') ?? DEFAULT_CHANNEL;
    if (!isChannelName(name)) throw new ControlError(400, `channel must be a channel name (${NAME_RULE}); received ${JSON.stringify(String(name).slice(0, 140))}`);
    return name;
  };

  /** Known to this instance (loaded, or held): read as before; its keys exist already. */
  const isKnown = (channel: string): boolean => core.channelNames().includes(channel);

  /** docs/protocol.md, "The control endpoint": one channel's position, data and members, and every counter. */
  const stateOf = async (query: URLSearchParams) => {
    const channel = channelParam(query);
    try {
      // A channel this instance has not loaded is read from an engine that can (peek) without
      // creating it: asking about a name leaves nothing behind in a shared store.
      const peek = core.engine.peek;
      if (peek !== undefined && !isKnown(channel)) {
        const stored = await peek.call(core.engine, channel);
        // None in the store (never used, or expired): said by epoch null; the counters are there as for any channel.
        if (stored === undefined) return { channel, epoch: null, seq: 0, data: {}, members: [], counters: snapshotStats() };
        return { channel, epoch: stored.epoch, seq: stored.seq, data: stored.data, members: stored.members, counters: snapshotStats() };
      }
      await core.loadChannel(channel);
      const state = core.channelState(channel);
      return { channel, epoch: state.epoch, seq: state.seq, data: state.data, members: state.members, counters: snapshotStats() };
    } catch (error) {
      if (error instanceof ChangeRefusedError) throw new ControlError(503, `${error.code}: ${error.message}`);
      throw error;
    }
  };

  /**
   * Who may use the control routes, checked in this order (issue 11, item 6):
   * a loopback peer; a loopback `Host` (a DNS-rebinding page sends its own name);
   * no cross-origin `Origin` (a page on another site); the control token, compared
   * in constant time; and, for a body, `application/json` (a plain HTML form can
   * send only urlencoded, multipart or text/plain bodies without a preflight).
   * Returns the refusal to send, or null.
   */
  const refuseControl = (req: IncomingMessage): { status: number; error: string; headers?: Record<string, string> } | null => {
    // Behind a trusted proxy on this machine, the peer is loopback whoever the client is.
    const from = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], opts.trustProxy);
    if (!isLoopbackAddress(from)) {
      return { status: 403, error: `control routes answer loopback addresses only; this request came from ${from}` };
    }
    const host = parseHost(req.headers.host);
    if (host === null || !isLoopbackName(host.name)) {
      return { status: 421, error: `control routes answer a loopback Host (localhost, 127.0.0.1, [::1]) only; received Host ${JSON.stringify(req.headers.host ?? null)}` };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && judgeOrigin(origin, req.headers.host, controlNames, NO_ORIGINS) !== 'own') {
      return { status: 403, error: `control routes refuse cross-origin requests; received Origin ${JSON.stringify(origin)}` };
    }
    const presented = bearerToken(req.headers.authorization);
    if (presented === null || !tokensEqual(presented, opts.controlToken)) {
      return {
        status: 401,
        error: `control routes need "Authorization: Bearer <control token>" (--control-token, or the one printed at start)${presented === null ? '' : '; the token is wrong'}`,
        headers: { 'www-authenticate': 'Bearer realm="statesocket control"' },
      };
    }
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && !isJsonContentType(req.headers['content-type'])) {
      return { status: 415, error: `control request bodies must be application/json; received ${JSON.stringify(req.headers['content-type'] ?? null)}` };
    }
    return null;
  };

  const control = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const refusal = refuseControl(req);
    if (refusal !== null) {
      stats.controlRefusals++;
      // The body is not read: close the connection rather than leave it half consumed.
      return reply(res, refusal.status, { ok: false, error: refusal.error }, { ...refusal.headers, connection: 'close' });
    }
    const action = url.pathname.slice('/control/'.length);
    if (action === 'state') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { ok: false, error: 'use GET /control/state' }, { allow: 'GET, HEAD' });
      try {
        return reply(res, 200, { ok: true, ...(await stateOf(url.searchParams)) });
      } catch (error) {
        if (error instanceof ControlError) return reply(res, error.status, { ok: false, error: error.message });
        throw error;
      }
    }
    const run = Object.hasOwn(postActions, action) ? postActions[action] : undefined;
    if (run === undefined) {
      return reply(res, 404, {
        ok: false,
        error: `unknown control route ${url.pathname}; POST ${Object.keys(postActions).map((a) => `/control/${a}`).join(', ')} or GET /control/state`,
      });
    }
    if (req.method !== 'POST') return reply(res, 405, { ok: false, error: `use POST /control/${action}` }, { allow: 'POST' });
    try {
      const result = await run(url.searchParams, req);
      reply(res, 200, { ok: true, action, ...result });
    } catch (error) {
      if (error instanceof ControlError) return reply(res, error.status, { ok: false, action, error: error.message });
      reply(res, 500, { ok: false, action, error: (error as Error).message });
    }
  };

  return control;
}
