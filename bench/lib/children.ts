/**
 * The parent side of the bench's child processes. Every child is registered
 * the moment it is forked and killed (SIGKILL, which also ends a SIGSTOPped
 * one) when the bench exits, fails or is interrupted. Every wait on a child
 * has a timeout, and a child that exits early fails the wait with its stderr.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { build } from 'esbuild';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchMessage } from './ipc.js';
import { withTimeout } from './time.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STDERR_TAIL_BYTES = 8 * 1024;

const live = new Set<ChildProcess>();
let hooked = false;

/** Kills every child still running. Safe to call more than once. */
export function killAllChildren(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

export interface ForkOptions {
  args?: string[];
  execArgv?: string[];
  /** The program run instead of node (e.g. valgrind, with node and its flags in `execArgv`). */
  execPath?: string;
}

export class Child {
  readonly name: string;
  readonly process: ChildProcess;
  private readonly queue: BenchMessage[] = [];
  private readonly waiters: Array<{ type: string; resolve: (m: BenchMessage) => void; reject: (e: Error) => void }> = [];
  private stderr = '';
  private exitError: Error | null = null;
  readonly exited: Promise<void>;

  constructor(name: string, modulePath: string, options: ForkOptions = {}) {
    hookExit();
    this.name = name;
    this.process = fork(modulePath, options.args ?? [], {
      cwd: ROOT,
      // Set explicitly: a fork inherits the parent's execArgv (tsx's loader) otherwise.
      execArgv: options.execArgv ?? [],
      ...(options.execPath === undefined ? {} : { execPath: options.execPath }),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    live.add(this.process);
    // A send racing the child's exit fails with EPIPE: the exit itself is what the waits report.
    this.process.on('error', () => {});
    this.process.stderr?.setEncoding('utf8');
    this.process.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_TAIL_BYTES);
    });
    this.process.on('message', (raw) => this.deliver(raw as BenchMessage));
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        live.delete(this.process);
        this.exitError = new Error(
          `${this.name} exited (code ${code}, signal ${signal})${this.stderr ? `; stderr:\n${this.stderr}` : ''}`,
        );
        for (const waiter of this.waiters.splice(0)) waiter.reject(this.exitError);
        resolve();
      });
    });
  }

  private deliver(message: BenchMessage): void {
    if (message.type === 'error') {
      const error = new Error(`${this.name} failed: ${String(message.message)}`);
      for (const waiter of this.waiters.splice(0)) waiter.reject(error);
      this.exitError = error;
      return;
    }
    const index = this.waiters.findIndex((w) => w.type === message.type);
    if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(message);
    else this.queue.push(message);
  }

  send(message: BenchMessage): void {
    if (!this.process.connected) return;
    try {
      this.process.send(message);
    } catch {
      // the child is exiting; its exit is reported by the waits
    }
  }

  /** The next message of `type` (queued ones first); rejects when the child dies or after `timeoutMs`. */
  next(type: string, timeoutMs: number): Promise<BenchMessage> {
    const index = this.queue.findIndex((m) => m.type === type);
    if (index >= 0) return Promise.resolve(this.queue.splice(index, 1)[0]!);
    if (this.exitError !== null) return Promise.reject(this.exitError);
    const waiting = new Promise<BenchMessage>((resolve, reject) => this.waiters.push({ type, resolve, reject }));
    return withTimeout(waiting, timeoutMs, `"${type}" from ${this.name}`).catch((error: Error) => {
      const i = this.waiters.findIndex((w) => w.type === type);
      if (i >= 0) this.waiters.splice(i, 1);
      throw error;
    });
  }

  /** Messages of `type` received so far and not yet taken. */
  drain(type: string): BenchMessage[] {
    const taken: BenchMessage[] = [];
    for (let i = 0; i < this.queue.length; ) {
      if (this.queue[i]!.type === type) taken.push(this.queue.splice(i, 1)[0]!);
      else i++;
    }
    return taken;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
  }

  /**
   * Gives the child `graceMs` to exit by itself (a client exits after its
   * result, and writes its CPU profile then), then SIGKILLs it and waits
   * (bounded) for it to be gone.
   */
  async kill(graceMs = 0): Promise<void> {
    if (graceMs > 0) await withTimeout(this.exited, graceMs, `${this.name} to exit`).catch(() => undefined);
    this.signal('SIGKILL');
    await withTimeout(this.exited, 5_000, `${this.name} to exit`).catch(() => undefined);
  }
}

// ── the two kinds of children ───────────────────────────────────────────────

const bundles = new Map<string, Promise<string>>();

/**
 * Bundles one of our entry files (scripts/bench-client.ts, scripts/bench-server.ts)
 * with esbuild into bench/.build/, packages left external, so a child starts
 * with plain `node` in about 150 ms instead of tsx's 600+: the reconnect
 * scenarios start a server per cycle, and every run starts a client.
 */
export function bundle(entry: string): Promise<string> {
  return bundleFile(join(ROOT, entry), entry.replace(/^.*\//, '').replace(/\.ts$/, ''));
}

/**
 * Bundles `entryPath` (absolute, possibly outside this checkout: the engine-baseline scenario's
 * entry in a tree extracted from git history) into bench/.build/`name`.mjs, where its packages
 * resolve from this checkout's node_modules. Built once per process; rejects with esbuild's
 * errors (a missing export among them).
 */
export function bundleFile(entryPath: string, name: string): Promise<string> {
  let built = bundles.get(entryPath);
  if (built === undefined) {
    const outfile = join(ROOT, 'bench/.build', `${name}.mjs`);
    built = build({
      entryPoints: [entryPath],
      outfile,
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
    }).then(() => outfile);
    bundles.set(entryPath, built);
  }
  return built;
}

/** Extra node flags for client children, e.g. `--cpu-prof` (set by `--cpu-prof DIR`). */
export const clientFlags: string[] = [];

/** How long a client gets to exit by itself after its result (longer while it writes a CPU profile). */
export function clientGraceMs(): number {
  return clientFlags.length > 0 ? 30_000 : 2_000;
}

/** Forks the bundled scripts/bench-client.ts with one role and its parameters (under `wrapper`, e.g. `taskset -c 1`, when given). */
export async function forkClient(name: string, role: string, params: Record<string, unknown>, options: { exposeGc?: boolean; wrapper?: readonly string[] } = {}): Promise<Child> {
  return forkRole(name, await bundle('scripts/bench-client.ts'), role, params, options);
}

/** Forks a bundled entry that runs `role` as scripts/bench-client.ts does (same arguments, same flags). */
export function forkRole(name: string, modulePath: string, role: string, params: Record<string, unknown>, options: { exposeGc?: boolean; wrapper?: readonly string[] } = {}): Child {
  const nodeFlags = [...(options.exposeGc ? ['--expose-gc'] : []), ...clientFlags];
  // `wrapper` (a program and its flags, e.g. valgrind) runs node with its flags.
  const wrapper = options.wrapper ?? [];
  return new Child(name, modulePath, {
    args: [role, JSON.stringify(params)],
    ...(wrapper.length === 0 ? { execArgv: nodeFlags } : { execPath: wrapper[0] as string, execArgv: [...wrapper.slice(1), process.execPath, ...nodeFlags] }),
  });
}

/** A running (or standby) bench server child. */
export class ServerProcess {
  private constructor(
    readonly child: Child,
    public port: number,
    public listenedAt: number,
  ) {}

  /** Starts a server on 127.0.0.1 port 0 (under `wrapper`, e.g. `taskset -c 0`, when given) and waits until it listens. */
  static async start(name = 'bench server', wrapper: readonly string[] = []): Promise<ServerProcess> {
    const modulePath = await bundle('scripts/bench-server.ts');
    const child = new Child(name, modulePath, wrapper.length === 0 ? {} : { execPath: wrapper[0] as string, execArgv: [...wrapper.slice(1), process.execPath] });
    const listening = await child.next('listening', 15_000);
    return new ServerProcess(child, Number(listening.port), Number(listening.at));
  }

  /** Starts a server that loads, then waits for `listen(port)` before binding. */
  static async standby(name = 'standby server'): Promise<ServerProcess> {
    const child = new Child(name, await bundle('scripts/bench-server.ts'), { args: ['--standby'] });
    await child.next('ready', 15_000);
    return new ServerProcess(child, 0, NaN);
  }

  /** Binds `port` (a standby); resolves with the wall-clock time it listened. */
  async listen(port: number): Promise<number> {
    this.child.send({ type: 'listen', port });
    const listening = await this.child.next('listening', 10_000);
    this.port = Number(listening.port);
    this.listenedAt = Number(listening.at);
    return this.listenedAt;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  async stats(): Promise<{ accepts: number[]; open: number; broadcasts: number }> {
    this.child.send({ type: 'stats' });
    const stats = await this.child.next('stats', 10_000);
    return { accepts: stats.accepts as number[], open: Number(stats.open), broadcasts: Number(stats.broadcasts) };
  }

  /** Frames the blast of `n` patches (on `channel`, in protocol version 2's frames, when given); resolves with its bytes. */
  async prepareBlast(n: number, channel?: string): Promise<number> {
    this.child.send({ type: 'prepare-blast', n, ...(channel === undefined ? {} : { channel }) });
    return Number((await this.child.next('prepared', 60_000)).bytes);
  }

  /** Broadcasts a patch to every connection `ratePerSec` times a second, `count` times (forever without). */
  broadcast(ratePerSec: number, count?: number): void {
    this.child.send({ type: 'broadcast', ratePerSec, ...(count === undefined ? {} : { count }) });
  }

  async stopBroadcast(): Promise<number> {
    this.child.send({ type: 'broadcast-stop' });
    return Number((await this.child.next('broadcast-stopped', 10_000)).broadcasts);
  }

  /** Serves the pages in `dir` at `/browser/NAME.html`. */
  async servePages(dir: string): Promise<void> {
    this.child.send({ type: 'serve-pages', dir });
    await this.child.next('serving', 10_000);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.signal(signal);
  }

  kill(): Promise<void> {
    return this.child.kill();
  }
}
