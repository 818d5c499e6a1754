/**
 * Child processes for `npm run cluster` and the tests that start instances and nginx: the tail of
 * their output, their exit, a stop that ends in SIGKILL, and the bounded waits on their ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository: where the programs run from. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Bounds of the waits below; generous, since the machine may be busy. */
export const LAUNCH_LIMITS = {
  instanceStartMs: 20_000,
  nginxStartMs: 10_000,
  /** After SIGTERM, a process still running this long gets SIGKILL. */
  stopGraceMs: 5_000,
  /** Lines of a child's output kept for error messages. */
  outputLines: 200,
  /** Starts of nginx on a fresh free port when another process took the one picked. */
  nginxPortAttempts: 3,
} as const;

/** A child process, the tail of what it printed, and its exit. */
export interface Child {
  readonly process: ChildProcess;
  /** The last `LAUNCH_LIMITS.outputLines` lines of stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** Calls `listener` with every chunk printed from now on; returns what stops it. */
  onOutput(listener: (text: string) => void): () => void;
}

export function spawnChild(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Child {
  // A process group of its own: Ctrl-C in a terminal reaches only the program that started it,
  // which stops the children in order (nginx first), instead of all of them at once.
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  const lines: string[] = [];
  const listeners = new Set<(text: string) => void>();
  const record = (chunk: Buffer) => {
    const text = chunk.toString();
    lines.push(...text.split('\n').filter((line) => line !== ''));
    lines.splice(0, Math.max(0, lines.length - LAUNCH_LIMITS.outputLines));
    for (const listener of listeners) listener(text);
  };
  child.stdout?.on('data', record);
  child.stderr?.on('data', record);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    // A command that could not be started (ENOENT) emits 'error' and no 'exit'.
    child.once('error', (error) => {
      lines.push(error.message);
      resolve(null);
    });
  });
  const onOutput = (listener: (text: string) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  return { process: child, output: () => lines.join('\n'), exited, onOutput };
}

/** Sends `signal`, then SIGKILL if the child is still running after the grace period; resolves at its exit. */
export async function stopChild(child: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill(signal);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), LAUNCH_LIMITS.stopGraceMs);
  await child.exited;
  clearTimeout(timer);
}

/** A port no process listens on right now, on 127.0.0.1 (for programs that cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects when `exited` resolves first. */
export async function waitForPort(port: number, exited: Promise<unknown>, what: string, timeoutMs: number): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${what} exited before listening on ${port}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
}
