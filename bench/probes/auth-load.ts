// Probe for issue 11, item 7: wrong-token attempts and silent sockets against the real server process.
// npx tsx bench/probes/auth-load.ts sequential [budgetMs] | parallel | silent <helloTimeoutMs> <maxConnectionsPerAddress> [open]
// (raise the descriptor limit first: ulimit -n 20000). Figures for the closing note; timings are reported, never judged.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
function start(args: string[]): Promise<{ url: string; kill: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/server.ts', '--host', '127.0.0.1', '--port', '0', '--no-app', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (ws:\/\/\S+)/.exec(out);
      if (m) resolve({ url: `${m[1]}/`, kill: () => child.kill('SIGKILL') });
    });
  });
}
function attempt(url: string, send?: string, timeoutMs = 60_000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const t = setTimeout(() => { ws.terminate(); }, timeoutMs);
    ws.on('open', () => { if (send) ws.send(send); });
    ws.on('error', () => {});
    ws.on('close', (code, reason) => { clearTimeout(t); resolve({ code, reason: reason.toString() }); });
  });
}
const tally = (xs: { code: number; reason: string }[]) => {
  const m = new Map<string, number>();
  for (const x of xs) { const k = `${x.code} ${x.reason.replace(/\d+ s$/, 'N s')}`; m.set(k, (m.get(k) ?? 0) + 1); }
  return Object.fromEntries(m);
};
const mode = process.argv[2];
if (mode === 'sequential') {
  const s = await start(['--token', 's3cret']);
  const t0 = performance.now();
  let n = 0;
  const budgetMs = Number(process.argv[3] ?? 20000);
  const times: number[] = [];
  while (performance.now() - t0 < budgetMs && n < 2000) {
    const a = performance.now();
    const r = await attempt(s.url, JSON.stringify({ type: 'hello', v: 1, token: `guess-${n}` }));
    times.push(Math.round(performance.now() - a));
    if (r.code !== 4401) console.log('unexpected', r);
    n++;
  }
  console.log(`sequential wrong tokens: ${n} attempts in ${Math.round(performance.now() - t0)} ms; per-attempt ms: ${times.join(' ')}`);
  s.kill();
} else if (mode === 'parallel') {
  const s = await start(['--token', 's3cret']);
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: 2000 }, (_, i) => attempt(s.url, JSON.stringify({ type: 'hello', v: 1, token: `guess-${i}` }))));
  console.log(`2000 parallel wrong tokens: all answered in ${Math.round(performance.now() - t0)} ms`, tally(rs));
  s.kill();
} else if (mode === 'silent') {
  const helloMs = process.argv[3] ?? '500';
  const perAddr = process.argv[4] ?? '1000';
  const s = await start([...(process.argv[5] === 'open' ? [] : ['--token', 's3cret']), '--hello-timeout', helloMs, '--max-connections-per-address', perAddr]);
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: 3000 }, () => attempt(s.url)));
  console.log(`3000 silent sockets (hello-timeout ${helloMs} ms, per-address cap ${perAddr}): all closed ${Math.round(performance.now() - t0)} ms after the first was opened`, tally(rs));
  s.kill();
}
process.exit(0);
