// Probe for issue 11, item 4: the document's size limit, against startSyncServer in-process on 127.0.0.1.
// npx tsx bench/probes/data-limit.ts. Figures for the closing note; timings are reported, never judged.
import { WebSocket } from 'ws';
import { startSyncServer } from '../../src/server/start.js';
import { createSyncServer } from '../../src/server/sync-server.js';

type Frame = { type: string; id?: string; code?: string; message?: string };
const server = await startSyncServer({ port: 0, host: '127.0.0.1' });
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function client(): Promise<{ ws: WebSocket; frames: Frame[]; raw: string[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(server.url);
    const frames: Frame[] = [];
    const raw: string[] = [];
    ws.on('message', (data) => {
      raw.push(data.toString());
      frames.push(JSON.parse(data.toString()) as Frame);
    });
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', v: 1 }));
      resolve({ ws, frames, raw });
    });
  });
}

const writer = await client();
for (let k = 0; k < 6; k++) writer.ws.send(JSON.stringify({ type: 'op', id: `big${k}`, set: { [`big${k}`]: 'x'.repeat(900_000) } }));
await wait(500);
console.log(`six 900 KB ops: ${writer.frames.filter((f) => f.type === 'error').map((f) => f.code).join(', ')}`);
let accepted = 0;
for (let i = 0; i < 10; i++) {
  const id = `fill${i}`;
  writer.ws.send(JSON.stringify({ type: 'op', id, set: { [id]: 'x'.repeat(250_000) } }));
  await wait(100);
  const answer = writer.frames.filter((f) => f.id === id).pop();
  if (answer?.type === 'error') {
    console.log(`250 KB op ${i + 1}: ${answer.code}: ${answer.message}`);
    break;
  }
  accepted++;
}
console.log(`250 KB ops accepted: ${accepted}; document bytes (kept per key): ${server.core.dataBytes}; JSON.stringify: ${Buffer.byteLength(JSON.stringify(server.core.data()))}`);
const reader = await client();
await wait(300);
const snapshot = reader.raw.find((text) => text.startsWith('{"type":"snapshot"'));
console.log(`a new client's snapshot: ${snapshot === undefined ? 'none' : Buffer.byteLength(snapshot)} bytes (client default maxMessageBytes 1048576); still open: ${reader.ws.readyState === WebSocket.OPEN}`);
writer.ws.terminate();
reader.ws.terminate();
await server.close();

// What an op costs with the size kept per key, on an empty and on a full document (no data file; no dedup
// retention, or 20,000 fresh ids within a minute would be deferred as a flood).
const core = createSyncServer({ dedupRetentionMs: 0 });
const session = core.connect({ send: () => {}, close: () => {}, bufferedAmount: 0 });
session.receive(JSON.stringify({ type: 'hello', v: 1 }));
const N = 20_000;
const run = (label: string) => {
  const t0 = Date.now();
  for (let i = 0; i < N; i++) session.receive(JSON.stringify({ type: 'op', id: `${label}${i}`, set: { k: i } }));
  console.log(`${label}: ${(((Date.now() - t0) * 1000) / N).toFixed(1)} µs per small op, document ${core.dataBytes} bytes`);
};
run('empty');
for (let i = 0; i < 4; i++) session.receive(JSON.stringify({ type: 'op', id: `f${i}`, set: { [`f${i}`]: 'x'.repeat(250_000) } }));
run('full');
const t0 = Date.now();
for (let i = 0; i < 200; i++) JSON.stringify(core.data());
console.log(`one JSON.stringify of the full document (what a per-op size check would cost): ${(((Date.now() - t0) * 1000) / 200).toFixed(0)} µs`);
