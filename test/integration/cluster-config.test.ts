/**
 * deploy/nginx.conf (the file users copy) and the configuration `npm run cluster` runs are one file:
 * the generated one holds the deploy file line for line, but for its upstream servers and listen
 * line, and real nginx accepts both (`nginx -t`).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { findNginx } from '../../scripts/cluster/nginx.js';
import { DEPLOY_BEGIN, DEPLOY_END, DEPLOY_NGINX_CONF, retarget, runnableNginxConfig } from '../../scripts/cluster/nginx-config.js';

const run = promisify(execFile);
const deploy = readFileSync(DEPLOY_NGINX_CONF, 'utf8');

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-nginx-test-'));
  dirs.push(dir);
  return dir;
}

/** `nginx -t` on a configuration file in `dir`; resolves with what nginx printed. */
async function nginxTest(dir: string, file: string): Promise<string> {
  const { stderr } = await run(findNginx(), ['-t', '-p', dir, '-c', file, '-e', 'stderr']);
  return stderr;
}

const UPSTREAM_SERVER = /^\s*server 127\.0\.0\.1:\d+ /;
const LISTEN = /^\s*listen /;

describe('the nginx configuration', () => {
  it('npm run cluster runs deploy/nginx.conf, only its upstream servers and listen line replaced', () => {
    const generated = runnableNginxConfig({ dir: '/tmp/x', listenPort: 18_080, upstreamPorts: [18_081, 18_082, 18_083, 18_084] });
    const embedded = generated.slice(generated.indexOf(DEPLOY_BEGIN) + DEPLOY_BEGIN.length, generated.indexOf(DEPLOY_END));
    const lines = embedded
      .trim()
      .split('\n')
      .map((line) => line.replace(/^ {4}/, ''));
    const other = (line: string) => !UPSTREAM_SERVER.test(line) && !LISTEN.test(line);
    expect(lines.filter(other)).toEqual(deploy.trim().split('\n').filter(other));
    expect(lines.filter((line) => UPSTREAM_SERVER.test(line)).map((line) => line.trim())).toEqual(
      [18_081, 18_082, 18_083, 18_084].map((port) => `server 127.0.0.1:${port} max_fails=1 fail_timeout=5s;`),
    );
    expect(lines.filter((line) => LISTEN.test(line)).map((line) => line.trim())).toEqual(['listen 127.0.0.1:18080;']);
  });

  it('runs unprivileged: daemon off, and pid, logs and every temp path in its own directory', () => {
    const generated = runnableNginxConfig({ dir: '/tmp/d', listenPort: 1, upstreamPorts: [2] });
    const wrapper = generated.slice(0, generated.indexOf(DEPLOY_BEGIN));
    expect(wrapper).toContain('daemon off;');
    expect(wrapper).toContain('pid "/tmp/d/nginx.pid";');
    expect(wrapper).toContain('error_log stderr warn;');
    expect(wrapper).toMatch(/access_log "\/tmp\/d\/access\.log"/);
    for (const name of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) expect(wrapper).toContain(`${name}_temp_path "/tmp/d/${name}_temp";`);
  });

  it('carries what WebSocket needs and keeps /control/ out', () => {
    for (const directive of [
      'proxy_http_version 1.1;',
      'proxy_set_header Upgrade $http_upgrade;',
      'proxy_set_header Connection $connection_upgrade;',
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      'proxy_set_header X-Real-IP $remote_addr;',
      'proxy_read_timeout 1h;',
      'proxy_send_timeout 1h;',
      'proxy_buffering off;',
    ]) {
      expect(deploy).toContain(directive);
    }
    expect(deploy).toMatch(/map \$http_upgrade \$connection_upgrade \{\s*default upgrade;\s*'' +close;\s*\}/);
    expect(deploy).toMatch(/location \^~ \/control\/ \{\s*return 404;\s*\}/);
  });

  it('nginx accepts the generated configuration', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'nginx.conf'), runnableNginxConfig({ dir, listenPort: 18_080, upstreamPorts: [18_081, 18_082] }));
    expect(await nginxTest(dir, join(dir, 'nginx.conf'))).toContain('test is successful');
  });

  it('nginx accepts deploy/nginx.conf as copied, included inside http { } as Debian includes conf.d/*.conf', async () => {
    const dir = tempDir();
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `${name}_temp_path "${join(dir, name)}";`).join(' ');
    writeFileSync(
      join(dir, 'main.conf'),
      `pid "${join(dir, 'nginx.pid')}";\nevents {}\nhttp {\n  access_log off;\n  ${temp}\n  include "${DEPLOY_NGINX_CONF}";\n}\n`,
    );
    expect(await nginxTest(dir, join(dir, 'main.conf'))).toContain('test is successful');
  });

  it('refuses to generate from a file that lost the parts it replaces, and bad ports', () => {
    expect(() => retarget(deploy.replace('upstream statesocket', 'upstream other'), 1, [2])).toThrow('has no "upstream statesocket { ... }" block');
    expect(() => retarget(deploy.replace(/^\s*server 127.*$/gm, ''), 1, [2])).toThrow('its upstream block has no server line');
    expect(() => retarget(deploy.replace('listen 80;', ''), 1, [2])).toThrow('must have exactly one listen line; it has 0');
    expect(() => retarget(deploy, 1, [])).toThrow('upstreamPorts must name at least one instance');
    expect(() => retarget(deploy, 0, [2])).toThrow('listenPort must be a port from 1 to 65535; received 0');
    expect(() => retarget(deploy, 1, [2, 70_000])).toThrow('upstreamPorts[1] must be a port');
    expect(() => runnableNginxConfig({ dir: '/tmp/"x', listenPort: 1, upstreamPorts: [2] })).toThrow('nginx paths here may not hold quotes');
  });
});
