// Probe for issue 13's channel target (bench scenario 1's channel pair) outside the bench:
//   npx tsx bench/probes/channel-pair.ts server                       a blast server on 127.0.0.1 (bench/server.ts's
//                                                                     /blast frames), prints its port
//   npx tsx bench/probes/channel-pair.ts client PORT ORDER N [VIEW]   segments of N patches in one process, ORDER a
//                                                                     string of s (no channels), c (on a channel) and
//                                                                     w (raw ws, scenario 1's floor)
// The client prints each segment's CPU µs per patch, its wall time and the renders it made. VIEW `light` renders nothing but a count: under
// callgrind every segment takes a hundred times longer, and the rows view's frame-timed renders would
// then weigh a hundred times more per patch. Load-independent figure (docs/benchmarks.md): bundle it
// as the bench does (esbuild, packages external, into bench/.build/), run the client under
// `valgrind --tool=callgrind` with ORDER ssss and ssssssssssss (then cccc and cccccccccccc), and take
// the difference of the instructions collected over the 8 × N patches between them.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { BENCH_CHANNEL, connect } from '../adapters.js';
import { blastChannelTexts, blastTexts, encodeTextFrames, expectedRows } from '../wire.js';
import { FRAME_MS, createCountingStore, createRowsView } from '../workload.js';

const [mode = 'server', portText = '0', order = 'sc', nText = '20000', viewKind = 'rows'] = process.argv.slice(2);

if (mode === 'server') {
  const blasts = new Map<string, Buffer>();
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const n = Number(url.searchParams.get('n') ?? '0');
    const channel = url.searchParams.get('channel');
    const key = `${n}:${channel ?? ''}`;
    let bytes = blasts.get(key);
    if (bytes === undefined) blasts.set(key, (bytes = encodeTextFrames(channel === null ? blastTexts(n) : blastChannelTexts(n, channel))));
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let offset = 0;
    const pump = () => {
      while (offset < bytes.length && !socket.destroyed) {
        const end = Math.min(offset + 256 * 1024, bytes.length);
        const more = socket.write(bytes.subarray(offset, end));
        offset = end;
        if (!more) return void socket.once('drain', pump);
      }
    };
    pump();
  });
  server.listen(Number(portText), '127.0.0.1', () => console.log((server.address() as AddressInfo).port));
} else {
  const n = Number(nText);
  const segment = async (protocol: 'sync' | 'channel' | 'ws'): Promise<{ us: number; wallMs: number; renders: number }> => {
    const model = createCountingStore();
    // `light`: a view that only keeps the data (under callgrind, whose slowness makes frame-driven renders many times more frequent per message)
    const view = viewKind === 'light' ? { renders: 0, render() { this.renders++; } } : createRowsView();
    let applied = 0;
    let start: NodeJS.CpuUsage | undefined;
    let cpu = { user: 0, system: 0 };
    let startedAt = 0;
    let wallMs = 0;
    let rendersBefore = 0;
    let renders = 0;
    let done = () => {};
    const measured = new Promise<void>((resolve) => (done = resolve));
    model.onApplied = () => {
      applied++;
      if (applied === 1) {
        start = process.cpuUsage();
        startedAt = performance.now();
        rendersBefore = view.renders;
      } else if (applied === n + 1) {
        cpu = process.cpuUsage(start);
        wallMs = performance.now() - startedAt;
        renders = view.renders - rendersBefore;
        done();
      }
    };
    const url = `ws://127.0.0.1:${portText}/blast?n=${n}${protocol === 'channel' ? `&channel=${BENCH_CHANNEL}` : ''}`;
    const connection =
      protocol === 'ws' ? connect('ws', { url, model, view, reconnect: 'none' }) : connect('statesocket', { url, model, view, reconnect: 'none', protocol });
    await measured;
    connection.close();
    if (!isDeepStrictEqual({ ...model.getData() }, expectedRows(n))) throw new Error(`${protocol}: wrong rows`);
    await new Promise((resolve) => setTimeout(resolve, FRAME_MS));
    return { us: (cpu.user + cpu.system) / n, wallMs, renders };
  };
  for (const c of order) {
    const protocol = c === 'c' ? 'channel' : c === 'w' ? 'ws' : 'sync';
    const { us, wallMs, renders } = await segment(protocol);
    console.log(`${protocol} ${us.toFixed(2)} µs/patch, ${wallMs.toFixed(0)} ms, ${renders} renders`);
  }
}
