// CI: the README's first example, as a new user runs it, from the installed tarball: the server started
// with the command the README shows next to it (`npx statesocket-server --feed-rate 5`, port 8080), the
// example's code copied from the README into prices.ts and run with `npx tsx prices.ts`; it must print
// live data (`open {...}` lines whose prices change).
//   node check-readme.mjs README.md
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const readme = readFileSync(process.argv[2], 'utf8');
const block = /<!-- run -->\s*```ts\n([\s\S]*?)```/.exec(readme);
assert.ok(block, 'the README has a ts block marked <!-- run -->');
const serverCommand = /```sh\n(npx statesocket-server[^\n#]*)/.exec(readme);
assert.ok(serverCommand, 'the README shows how to start the server with npx statesocket-server');
writeFileSync('prices.ts', block[1]);

/** Starts a program in its own process group (npx does not pass signals on), and returns it with its output. */
function start(command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const run = { child, output: '' };
  child.stdout.on('data', (chunk) => (run.output += chunk));
  child.stderr.on('data', (chunk) => (run.output += chunk));
  return run;
}
async function stop(run) {
  if (run.child.exitCode !== null || run.child.signalCode !== null) return;
  const exited = new Promise((resolve) => run.child.once('exit', resolve));
  try {
    process.kill(-run.child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  const killer = setTimeout(() => process.kill(-run.child.pid, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(killer);
}
const waitFor = async (run, pattern, what) => {
  for (let i = 0; i < 300; i++) {
    if (pattern.test(run.output)) return;
    if (run.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${what}; output:\n${run.output}`);
};

const [command, ...args] = serverCommand[1].trim().split(/\s+/);
const server = start(command, ['--no-install', ...args]);
let example;
try {
  await waitFor(server, /listening on ws:\/\/127\.0\.0\.1:8080/, `\`${serverCommand[1].trim()}\` did not listen on 8080`);
  example = start('npx', ['--no-install', 'tsx', 'prices.ts']);
  // Three renders with data: the snapshot, then changes made by the feed.
  await waitFor(example, /(^open \{"[^\n]+\n[\s\S]*){3}/m, 'the README example printed no live data');
  const lines = example.output.split('\n').filter((line) => line.startsWith('open {"'));
  assert.ok(new Set(lines).size >= 2, `the data changes from line to line: ${lines.join('\n')}`);
  console.log(`package check passed: the README example printed ${lines.length} live lines, e.g.\n${lines.at(-1)}`);
} finally {
  if (example) await stop(example);
  await stop(server);
}
