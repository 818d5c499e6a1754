import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_RELAY_HOSTS as APP_RELAY_HOSTS } from '../../app/inspect-url.js';
import { contentSecurityPolicy, loadAppFiles, loadBuiltApps, loadReactAppFiles, LOOPBACK_RELAY_HOSTS, type AppBundle } from '../../src/server/static-files.js';
import { startSyncServer, type RunningServer } from '../../src/server/start.js';

// The suite's global setup (test/support/build-assets.ts) builds dist/www first, as npm run build does.
describe('static app files', () => {
  let app: AppBundle;
  let server: RunningServer;
  let base: string;

  beforeAll(async () => {
    app = loadAppFiles();
    server = await startSyncServer({ control: true, host: '127.0.0.1', port: 0, staticHandler: app.staticHandler });
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

  describe('connect-src', () => {
    const connectSrc = (host: string | undefined) => /connect-src ([^;]*)/.exec(contentSecurityPolicy(host))?.[1];

    it("allows WebSockets to the page's own origin and to relays on loopback names or the page's host, nowhere else", () => {
      expect(connectSrc('app.example:8080')).toBe(
        "'self' ws://localhost:* wss://localhost:* ws://127.0.0.1:* wss://127.0.0.1:* ws://app.example:* wss://app.example:*",
      );
      expect(connectSrc('127.0.0.1:8080')).toBe("'self' ws://localhost:* wss://localhost:* ws://127.0.0.1:* wss://127.0.0.1:*");
    });

    it('adds no host for a malformed Host or an IPv6 literal (Chromium ignores those in a policy)', () => {
      const loopbackOnly = "'self' ws://localhost:* wss://localhost:* ws://127.0.0.1:* wss://127.0.0.1:*";
      expect(connectSrc('[::1]:8080')).toBe(loopbackOnly);
      expect(connectSrc('evil.example; script-src *')).toBe(loopbackOnly);
      expect(connectSrc(undefined)).toBe(loopbackOnly);
    });

    it("names the same loopback hosts as the app's ?inspect= check", () => {
      expect(LOOPBACK_RELAY_HOSTS).toEqual(APP_RELAY_HOSTS);
    });

    it('is sent with the page, for its Host', async () => {
      const response = await fetch(`${base}/`);
      expect(response.headers.get('content-security-policy')).toContain(`connect-src ${connectSrc(`127.0.0.1:${server.port}`)};`);
    });
  });
});

describe('the React example and the DOM app together', () => {
  let server: RunningServer;
  let base: string;

  beforeAll(async () => {
    const apps = loadBuiltApps(() => {
      throw new Error('both are built by the global setup');
    });
    server = await startSyncServer({ control: true, host: '127.0.0.1', port: 0, ...(apps === undefined ? {} : { staticHandler: apps.staticHandler }) });
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.close();
  });

  it('serves the React page at /react and /react/ with the same policy, naming its files by absolute path', async () => {
    for (const path of ['/react', '/react/', '/react/index.html']) {
      const response = await fetch(`${base}${path}`);
      expect([path, response.status, response.headers.get('content-type')]).toEqual([path, 200, 'text/html; charset=utf-8']);
      expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
      const html = await response.text();
      expect(html).toContain('<script type="module" src="/react/react.js"></script>');
      expect(html).toContain('<link rel="stylesheet" href="/react/react.css" />');
    }
    expect(await (await fetch(`${base}/`)).text()).toContain('src="/app.js"');
  });

  it('serves its bundle, React included, and its stylesheet', async () => {
    const script = await fetch(`${base}/react/react.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toContain('statesocketReact');
    expect((await fetch(`${base}/react/react.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${base}/react/app.js`)).status).toBe(404);
  });

  it('says where it looked when the React example is not built, and loads both when they are', () => {
    const said: string[] = [];
    expect(() => loadReactAppFiles('/nonexistent')).toThrow(/no built app at \/nonexistent \(expected index.html and react.js\).*npm run build/);
    const apps = loadBuiltApps((message) => said.push(message));
    expect([said, apps?.files.has('/'), apps?.files.has('/react/')]).toEqual([[], true, true]);
  });
});
