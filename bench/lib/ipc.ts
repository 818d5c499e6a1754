/**
 * The child side of the parent ↔ child channel (Node's IPC). A child exits when
 * its parent goes away, so a crashed run never leaves processes behind.
 */

export interface BenchMessage {
  type: string;
  [key: string]: unknown;
}

const queued: BenchMessage[] = [];
const waiters: Array<{ type: string; resolve: (message: BenchMessage) => void }> = [];
const handlers = new Map<string, (message: BenchMessage) => void>();

/** Starts listening to the parent; call once at the top of a child. */
export function attachToParent(): void {
  if (process.send === undefined) {
    process.stderr.write('this is a bench child: run it through `npm run bench`\n');
    process.exit(2);
  }
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw) => {
    const message = raw as BenchMessage;
    const handler = handlers.get(message.type);
    if (handler !== undefined) return handler(message);
    const index = waiters.findIndex((w) => w.type === message.type);
    if (index >= 0) return waiters.splice(index, 1)[0]!.resolve(message);
    queued.push(message);
  });
}

/** Sends a message to the parent; resolves once it is handed to the channel. */
export function send(message: BenchMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

/** The next message of this type from the parent (queued ones first). */
export function next(type: string): Promise<BenchMessage> {
  const index = queued.findIndex((m) => m.type === type);
  if (index >= 0) return Promise.resolve(queued.splice(index, 1)[0]!);
  return new Promise((resolve) => waiters.push({ type, resolve }));
}

/** Handles every message of this type as it arrives. */
export function on(type: string, handler: (message: BenchMessage) => void): void {
  handlers.set(type, handler);
  for (let i = queued.length - 1; i >= 0; i--) if (queued[i]!.type === type) handler(queued.splice(i, 1)[0]!);
}

/** Sends the result and exits: a child's sockets and timers never outlive its report. */
export async function finish(result: BenchMessage): Promise<never> {
  await send(result);
  process.exit(0);
}

/** Reports an error to the parent and exits non-zero. */
export async function fail(error: unknown): Promise<never> {
  const message = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
  try {
    await send({ type: 'error', message });
  } finally {
    process.exit(1);
  }
}
