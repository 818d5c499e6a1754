// CI: `npx statesocket-server --port 0` from the installed tarball, the app it serves, and a client.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection, createStore } from 'statesocket';

// npx does not pass signals on to the program it runs: the child leads a process group of its own,
// and the group (npx and the server) is signalled by the child's id.
const child = spawn('npx', ['--no-install', 'statesocket-server', '--host', '127.0.0.1', '--port', '0', '--feed-rate', '20'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  detached: true,
});
const signalGroup = (signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
};
const killer = setTimeout(() => signalGroup('SIGKILL'), 30_000);
let output = '';
try {
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk;
      // The control line comes last, after the listening and app lines.
      const match = /listening on (ws:\/\/\S+)[\s\S]*\ncontrol: /.exec(output);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`statesocket-server exited with ${code}: ${output}`)));
  });
  assert.match(output, /app: http:/, 'the installed server serves the built app');
  const page = await fetch(url.replace('ws://', 'http://'));
  assert.equal(page.status, 200, 'GET / answers with the app');
  const store = createStore();
  // the default protocol (version 2): the store is the default channel, which the feed changes
  const connection = createConnection({ url, model: store });
  for (let i = 0; i < 200 && Object.keys(store.getData()).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  const keys = Object.keys(store.getData()).length;
  connection.stop();
  assert.ok(keys > 0, 'live data from the feed');
  console.log(`package check passed: npx statesocket-server served the app and ${keys} keys`);
} finally {
  const gone = child.exitCode !== null || child.signalCode !== null;
  const exited = gone ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve));
  signalGroup('SIGTERM');
  await exited;
  clearTimeout(killer);
}
