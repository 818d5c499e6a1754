/**
 * Runs `scripts/server.ts` as a real child process for integration tests:
 * start (on a free port or a given one), SIGKILL, restart on the same port,
 * fault injection and state over the control endpoint.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createConnection } from '../../src/node.js';
import type { Connection } from '../../src/connection.js';
import type { ConnectionOptions } from '../../src/options.js';
import type { AnyModel, ConnectionStatus } from '../../src/types.js';
import { createSyncProtocol } from '../../src/sync/client-protocol.js';
import type { Store, StoreData } from '../../src/store.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServerProcess {
  port: number;
  url: string;
  /** The `/control/` secret: `--control-token` when given, else the one the server printed at start. */
  controlToken: string;
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

export interface ServerState {
  epoch: string;
  seq: number;
  data: Record<string, unknown>;
  counters: { opsApplied: number; opsDuplicate: number; rejectedFrames: number; connections: number; [key: string]: unknown };
}

const children = new Set<ChildProcess>();

/** Starts the server; resolves when it prints `listening on ws://HOST:PORT`. */
export function startServerProcess(args: string[] = [], port = 0): Promise<ServerProcess> {
  // node itself with tsx as a loader: a SIGKILL must reach the server, not a wrapper process
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/server.ts', '--host', '127.0.0.1', '--port', String(port), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 20 s:\n${output.join('')}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      const text = output.join('');
      const match = /listening on (ws:\/\/[^\s:]+:(\d+))/.exec(text);
      if (match) {
        const given = args.indexOf('--control-token');
        const controlToken = given >= 0 ? args[given + 1] : /^control token: (\S+)$/m.exec(text)?.[1];
        if (controlToken === undefined) {
          clearTimeout(timer);
          reject(new Error(`the server printed no control token before listening:\n${text}`));
          return;
        }
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.on('data', (more: Buffer) => output.push(more.toString()));
        resolve({ port: Number(match[2]), url: `${match[1]}/`, controlToken, child, output, exited });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output.join('')}`));
    });
  });
}

export async function kill(server: ServerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  server.child.kill(signal);
  await server.exited;
}

/** Kills every server still running (afterEach). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map((child) => {
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return done;
    }),
  );
}

/** A server whose control routes a test may use: its port and its control token (set when `control` is on). */
export interface Controllable {
  port: number;
  controlToken: string | undefined;
}

function tokenOf(server: Controllable): string {
  if (server.controlToken === undefined) throw new Error('this server was started without control: true; it has no control routes');
  return server.controlToken;
}

/** `POST /control/<action>` with the server's control token (and `body` as JSON). */
export async function control(server: Controllable, action: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${tokenOf(server)}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`http://127.0.0.1:${server.port}/control/${action}`, {
    method: 'POST',
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return response;
}

export async function serverState(server: Controllable): Promise<ServerState> {
  const response = await fetch(`http://127.0.0.1:${server.port}/control/state`, {
    headers: { authorization: `Bearer ${tokenOf(server)}` },
  });
  if (!response.ok) throw new Error(`GET /control/state: ${response.status}`);
  return (await response.json()) as ServerState;
}

export interface ControlRequest {
  /** @default 'POST' ('GET' for `state`) */
  method?: string;
  /** The control token to present; null sends no Authorization header. @default the server's */
  token?: string | null;
  /** Extra or replaced headers, Host and Origin included (fetch cannot set Host). */
  headers?: Record<string, string>;
  /** Sent as it is, with whatever content-type `headers` says. */
  body?: string;
}

export interface ControlAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { ok: boolean; error?: string; [key: string]: unknown };
}

/**
 * A control request with any headers (a hostile Host, Origin, content type or token),
 * over node:http so that Host can be set. For refusal tests; `control()` for the rest.
 */
export function controlRequest(server: Controllable, action: string, init: ControlRequest = {}): Promise<ControlAnswer> {
  const token = init.token === undefined ? tokenOf(server) : init.token;
  const headers: Record<string, string> = {
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...(init.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(init.body)) }),
    ...init.headers,
  };
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path: `/control/${action}`, method: init.method ?? (action === 'state' ? 'GET' : 'POST'), headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: ControlAnswer['body'];
          try {
            body = JSON.parse(text) as ControlAnswer['body'];
          } catch {
            body = { ok: false, error: `not JSON: ${text.slice(0, 200)}` };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to /control/${action} within 10 s`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

const connections = new Set<{ stop(): void }>();

/** A sync-protocol client with quick reconnects, stopped by `stopAllConnections`. */
export function syncClient<M extends AnyModel = Store>(url: string, options: Partial<ConnectionOptions<M>> = {}): Connection<M> {
  const connection = createConnection<M>({
    url,
    protocol: createSyncProtocol(),
    reconnect: { initialDelayMs: 50, maxDelayMs: 300, serviceRestartDelayMs: 400 },
    ...options,
  });
  connections.add(connection);
  return connection;
}

export function stopAllConnections(): void {
  for (const connection of connections) connection.stop();
  connections.clear();
}

/** Resolves when `predicate(status)` holds; rejects after a generous safety timeout. */
export function waitFor(
  connection: Connection<AnyModel, never>,
  predicate: (status: ConnectionStatus) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<ConnectionStatus> {
  return new Promise((resolve, reject) => {
    if (predicate(connection.getStatus())) return resolve(connection.getStatus());
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; status ${JSON.stringify(connection.getStatus())}`));
    }, timeoutMs);
    const unsubscribe = connection.subscribe((status) => {
      if (!predicate(status)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(status);
    });
  });
}

/** Polls an async condition (server state over HTTP) with a bounded number of tries. */
export async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, tries = 150): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never saw ${what}; last: ${JSON.stringify(last)}`);
}

/** The states entered since `from` in the connection's history. */
export function statesSince(connection: Connection<AnyModel, never>, from: number): string[] {
  return connection.history.slice(from).map((entry) => entry.state);
}

/**
 * Runs one of the repository's programs (`scripts/<name>.ts`) to its end with node and tsx; resolves with its exit
 * code and everything it printed. A program still running after 60 s is killed (its test then fails on the code).
 */
export function runScript(script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, output });
    });
  });
}
