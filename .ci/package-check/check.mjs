// CI: the installed tarball, without the optional peer dependencies.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connectionMachine, createConnection, createStore } from 'statesocket';
import { attachSyncServer, createSyncServer, startSyncServer } from 'statesocket/server';
import { createTestConnection } from 'statesocket/testing';

assert.equal(typeof createConnection, 'function', 'statesocket exports createConnection');
assert.ok(connectionMachine && typeof connectionMachine.provide === 'function', 'statesocket exports connectionMachine');
assert.equal(typeof createSyncServer, 'function', 'statesocket/server exports createSyncServer');
assert.equal(typeof startSyncServer, 'function', 'statesocket/server exports startSyncServer');
await assert.rejects(import('@statelyai/inspect'), undefined, 'the optional peer is not installed by default');
await assert.rejects(import('zod'), undefined, 'zod is not installed: it is a devDependency, and nothing published needs it');

const t = createTestConnection();
assert.equal(t.connection.getStatus().state, 'connecting');
t.open();
assert.equal(t.connection.getStatus().state, 'open');
t.connection.stop();

// A sync server from statesocket/server mounted on an HTTP server of ours, a client from statesocket,
// data through the default protocol (version 2, the default channel); inspect: { url } without @statelyai/inspect warns, naming it, and the connection runs.
const http = createServer((req, res) => res.end('mine'));
const server = attachSyncServer(http, { path: '/sync' });
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${http.address().port}/sync`;
server.change({ set: { hello: 'world' } });
const warnings = [];
const warn = console.warn;
console.warn = (message) => warnings.push(String(message));
const store = createStore();
const connection = createConnection({ url, model: store, inspect: { url: 'ws://127.0.0.1:9/inspect' } });
for (let i = 0; i < 200 && store.getData().hello !== 'world'; i++) await new Promise((resolve) => setTimeout(resolve, 25));
console.warn = warn;
assert.equal(store.getData().hello, 'world', 'the client got the server data');
assert.ok(warnings.some((w) => w.includes('npm install @statelyai/inspect')), `inspect: { url } names the missing peer; warned: ${warnings}`);
connection.stop();
await server.close();
assert.equal(await (await fetch(`http://127.0.0.1:${http.address().port}/`)).text(), 'mine', 'our own server still answers');
http.closeAllConnections();
http.close();
console.log('package check passed: statesocket, statesocket/server, statesocket/testing without zod; the missing peer is named');
