import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConnection } from '../../../src/node.js';
import { attachSyncServer } from '../../../src/server/index.js';

// Your HTTP server, answering its own routes.
const http = createServer((req, res) => {
  res.end('my app\n');
});
// The sync server on /sync of the same port: every other request and upgrade stays yours.
const sync = attachSyncServer(http, { path: '/sync', maxConnections: 1_000 });
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)); // 0: any free port
const { port } = http.address() as AddressInfo;

// A server-side change: persisted (with dataFile), then sent to every client as one patch.
sync.change({ set: { greeting: 'hello', count: 1 } });

// A client, here in the same process (in a browser, the same createConnection call).
let greeted = () => {};
const greeting = new Promise<void>((resolve) => (greeted = resolve));
const connection = createConnection({
  url: `ws://127.0.0.1:${port}/sync`,
  view: {
    render(data) {
      if (data.greeting === undefined) return;
      console.log(data); // { greeting: 'hello', count: 1 }
      greeted();
    },
  },
});
await greeting;

connection.stop();
await sync.close(); // the sync server's sockets and timers; your server keeps running
http.close();
