/**
 * Scenario 7: slow consumers (issue 11, item 5). The reference server runs its
 * live feed in a child process (bench/roles/slow-consumer.ts); this process
 * opens connections that complete the WebSocket handshake, send their hello,
 * and then never read again (raw `net` sockets, paused). The server must close
 * each one (1013) once what it holds for it passes `maxBufferedBytes`, and
 * what one such connection costs the server's heap must stay bounded.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { forkClient } from '../lib/children.js';
import { num, verdict, type TargetCheck } from '../lib/report.js';
import { wallNow, withTimeout } from '../lib/time.js';
import type { ScenarioContext, ScenarioResult } from './context.js';

/** A client text frame (masked, as RFC 6455 §5.3 requires of clients) of a short payload. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('maskedTextFrame takes payloads up to 125 bytes');
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x81; // FIN + text
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}

/** Completes the handshake, sends a hello, then stops reading. */
function nonReadingClient(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  const key = randomBytes(16).toString('base64');
  const upgraded = new Promise<Socket>((resolve, reject) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
      socket.write(maskedTextFrame('{"type":"hello","v":1}'));
      socket.pause(); // from here on the kernel's receive buffer fills, then the server's send side
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed during the handshake')));
  });
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  return withTimeout(upgraded, 10_000, 'a non-reading client to upgrade');
}

interface Sample {
  heap: number;
  rss: number;
}

export async function slowConsumerScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { connections, feedRatePerSec, maxBufferedBytes, waitMs } = ctx.profile.slowConsumer;
  const role = await forkClient('slow-consumer server', 'slow-consumer', { feedRatePerSec, maxBufferedBytes, waitMs }, { exposeGc: true });
  const sockets: Socket[] = [];
  let result: Record<string, unknown>;
  try {
    const { port } = await role.next('listening', 20_000);
    for (let i = 0; i < connections; i++) sockets.push(await nonReadingClient(Number(port)));
    role.send({ type: 'watch', count: connections, since: wallNow() });
    result = await role.next('result', waitMs + 20_000);
  } finally {
    for (const socket of sockets) socket.destroy();
    await role.kill(2_000);
  }
  const base = result.base as Sample;
  const peak = result.peak as Sample;
  const perConnection = (peak.heap - base.heap) / connections;
  const bound = 2 * maxBufferedBytes;
  const allClosedMs = result.allClosedMs as number | null;
  const firstCloseMs = result.firstCloseMs as number | null;
  ctx.log(
    `slow-consumer: ${result.slowConsumers as number}/${connections} closed, all in ${allClosedMs === null ? 'never' : `${num(allClosedMs)} ms`}; heap per connection ${num(perConnection / 1024)} KiB`,
  );
  const targets: TargetCheck[] = [
    {
      name: 'heap per slow consumer',
      required: `≤ 2 × maxBufferedBytes (${num(bound / 1024)} KiB)`,
      measured: `${num(perConnection / 1024)} KiB`,
      met: perConnection <= bound,
    },
    {
      name: 'slow consumers closed',
      required: `all ${connections} within ${num(waitMs / 1000)} s`,
      measured: allClosedMs === null ? `${result.slowConsumers as number} of ${connections}` : `all in ${num(allClosedMs / 1000, 1)} s`,
      met: allClosedMs !== null,
    },
  ];
  return {
    params: { connections, feedRatePerSec, maxBufferedBytes, waitMs },
    tables: [
      {
        columns: ['measure', 'value'],
        rows: [
          ['non-reading connections', num(connections)],
          ['feed', `${num(feedRatePerSec)} changes/s`],
          ['first closed after', firstCloseMs === null ? '–' : `${num(firstCloseMs)} ms`],
          ['all closed after', allClosedMs === null ? 'not within the wait' : `${num(allClosedMs)} ms`],
          ['server heap after GC: before → peak → after', `${num(base.heap / 2 ** 20, 1)} → ${num(peak.heap / 2 ** 20, 1)} → ${num((result.after as Sample).heap / 2 ** 20, 1)} MiB`],
          ['server RSS: before → peak', `${num(base.rss / 2 ** 20)} → ${num(peak.rss / 2 ** 20)} MiB`],
          ['heap per slow consumer (peak − before) / connections', `${num(perConnection / 1024)} KiB`],
          ['', verdict(perConnection <= bound)],
        ],
        notes: [
          `The reference server (\`startSyncServer\`, maxBufferedBytes ${num(maxBufferedBytes)}) in a child started with --expose-gc; heap = heapUsed + external + arrayBuffers after a forced GC, sampled every 100 ms. The clients complete the handshake, send a hello and pause their socket: the kernel buffers on both sides fill first (bufferedAmount does not count them), then the server's own.`,
          'Time to close runs from the moment every client is paused to the moment the server counts them all as slow consumers and none is open (it terminates a connection whose 1013 close is not completed within 1 s).',
        ],
      },
    ],
    targets,
    data: result,
  };
}
