import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { createConnection } from '../../../src/node.js';
import { attachSyncServer } from '../../../src/server/index.js';

const http = createServer((req, res) => {
  res.end('my app\n');
});
const sync = attachSyncServer(http, { path: '/sync' });

// Your own WebSocket server: noServer, never { server: http }.
const chat = new WebSocketServer({ noServer: true });
chat.on('connection', (ws) => ws.send('welcome to the chat'));
http.on('upgrade', (req, socket, head) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  // Only your own path: leave every other upgrade alone (no socket.destroy()), /sync is the sync server's.
  if (pathname !== '/chat') return;
  chat.handleUpgrade(req, socket, head, (ws) => chat.emit('connection', ws, req));
});

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const { port } = http.address() as AddressInfo;
sync.change({ set: { topic: 'news' } });

// Both on the same port.
let synced = () => {};
const topic = new Promise<void>((resolve) => (synced = resolve));
const connection = createConnection({
  url: `ws://127.0.0.1:${port}/sync`,
  view: {
    render(data) {
      if (data.topic === undefined) return;
      console.log(data); // { topic: 'news' }
      synced();
    },
  },
});
const talker = new WebSocket(`ws://127.0.0.1:${port}/chat`);
const welcome = new Promise<string>((resolve) => talker.once('message', (data) => resolve(String(data))));
console.log(await welcome); // welcome to the chat
await topic;

talker.close();
connection.stop();
chat.close();
await sync.close();
http.close();
