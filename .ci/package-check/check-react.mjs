// CI: statesocket/react from the installed tarball, with react and react-dom installed: a server
// render of a component using the hooks shows the idle status and opens no socket.
import assert from 'node:assert/strict';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { ConnectionProvider, useChannel, useConnectionStatus, useModel, useConnection } from 'statesocket/react';

assert.equal(typeof useChannel, 'function');
assert.equal(typeof useModel, 'function');
let sockets = 0;
class CountingWebSocket {
  constructor() {
    sockets += 1;
    throw new Error('no socket may open during a server render');
  }
}
function Badge() {
  return createElement('b', null, useConnectionStatus(useConnection()).state);
}
const html = renderToString(
  createElement(ConnectionProvider, { options: { url: 'ws://127.0.0.1:1/', WebSocket: CountingWebSocket, environment: false } }, createElement(Badge)),
);
assert.equal(html, '<b>idle</b>');
assert.equal(sockets, 0);
console.log('package check passed: statesocket/react');
