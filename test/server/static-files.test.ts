import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAppFiles, type AppBundle } from '../../src/server/static-files.js';
import { startServer, type RunningServer } from '../../src/server/node-server.js';

// The suite's global setup (test/support/build-assets.ts) builds dist/www first, as npm run build does.
describe('static app files', () => {
  let app: AppBundle;
  let server: RunningServer;
  let base: string;

  beforeAll(async () => {
    app = loadAppFiles();
    server = await startServer({ host: '127.0.0.1', port: 0, staticHandler: app.staticHandler });
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.close();
  });

  it('serves the page at / (with any query) with a content security policy', async () => {
    const response = await fetch(`${base}/?inspect=ws://127.0.0.1:8090/inspect`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await response.text();
    expect(html).toContain('<script type="module" src="/app.js"></script>');
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/); // nothing from a CDN
  });

  it('serves the script and the stylesheet it links, built from TypeScript', async () => {
    const script = await fetch(`${base}/app.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toContain('statesocketApp');
    const style = await fetch(`${base}/app.css`);
    expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('keeps the page script small: xstate and the sync protocol, the inspector in a chunk of its own', () => {
    const scripts = [...app.files].filter(([path]) => path.endsWith('.js'));
    const main = app.files.get('/app.js')?.body.byteLength ?? Infinity;
    const total = scripts.reduce((sum, [, file]) => sum + file.body.byteLength, 0);
    expect(main).toBeLessThan(150_000);
    expect(total).toBeLessThan(250_000);
    expect(scripts.length).toBeGreaterThan(1);
  });

  it('answers HEAD, refuses other methods, and leaves unknown paths to the server (404)', async () => {
    const head = await fetch(`${base}/app.js`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    const post = await fetch(`${base}/`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await fetch(`${base}/nope.js`)).status).toBe(404);
  });

  it('says where it looked, and how to build it, when the app is not there', () => {
    expect(() => loadAppFiles('/nonexistent')).toThrow(/no built app at \/nonexistent.*npm run build/);
  });
});
