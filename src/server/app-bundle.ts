/**
 * The browser app (`app/`), bundled once at start-up and served from memory
 * (Node only). `buildAppBundle()` runs esbuild on `app/main.ts` and
 * `app/style.css` and returns a `staticHandler` for `startServer`:
 *
 * | path                   | what                                               |
 * |------------------------|----------------------------------------------------|
 * | `/`, `/index.html`     | `app/index.html` (any query, e.g. `?inspect=ws://…`) |
 * | `/app.js`, `/app.css`  | the bundle and the stylesheet                      |
 * | `/chunk-*.js`          | code loaded on demand (the inspector)              |
 * | `*.map`                | source maps                                        |
 *
 * Everything comes from this server: no CDN, and the page works offline.
 * Every other path is left to the server (404). The app lives in the
 * repository, not in the published package: `appDir` must point at it.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHost } from './access.js';

export interface AppBundleOptions {
  /**
   * The app's directory (holding `index.html`, `main.ts`, `style.css`).
   * @default the repository's `app/` (next to `src/`)
   */
  appDir?: string;
  /**
   * Minify the bundle.
   * @default true
   */
  minify?: boolean;
}

/** One file served from memory. */
export interface AppFile {
  contentType: string;
  body: Uint8Array;
}

export interface AppBundle {
  /** Served files by URL path (`/`, `/app.js`, …). */
  readonly files: ReadonlyMap<string, AppFile>;
  /** For `startServer({ staticHandler })`: answers GET and HEAD for the app's paths, returns false for any other. */
  staticHandler(req: IncomingMessage, res: ServerResponse): boolean;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Hosts a `?inspect=` relay may be on besides the page's own: the loopback names the
 * app's `judgeRelayUrl` accepts (app/inspect-url.ts; test/server/app-bundle.test.ts keeps
 * the two lists equal).
 */
export const LOOPBACK_RELAY_HOSTS: readonly string[] = ['localhost', '127.0.0.1'];

/**
 * What the page may load: only its own files; WebSockets to its own origin, and to a
 * `?inspect=` relay on a loopback name or on the page's own host (any port), nowhere else
 * (hostile review a19: any ws: let a crafted link stream the document to a foreign host).
 * Data is never markup in this app (text nodes only); the policy is a second line of defence.
 * `hostHeader` is the request's Host; a malformed one, or an IPv6 literal (Chromium ignores
 * `ws://[::1]:*` in a policy, with a console error), adds no host.
 */
export function contentSecurityPolicy(hostHeader: string | undefined): string {
  const own = parseHost(hostHeader)?.name;
  const hosts = [...LOOPBACK_RELAY_HOSTS];
  if (own !== undefined && !own.includes(':') && !hosts.includes(own)) hosts.push(own);
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${hosts.flatMap((host) => [`ws://${host}:*`, `wss://${host}:*`]).join(' ')}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const DEFAULT_APP_DIR = fileURLToPath(new URL('../../app/', import.meta.url));

function contentTypeOf(path: string): string {
  const dot = path.lastIndexOf('.');
  return CONTENT_TYPES[dot === -1 ? '' : path.slice(dot)] ?? 'application/octet-stream';
}

/**
 * Builds the app in memory with esbuild (about 100 ms) and returns the handler that serves it.
 *
 * @example
 * ```ts
 * const app = await buildAppBundle();
 * const server = await startServer({ port: 8080, staticHandler: app.staticHandler });
 * // open http://127.0.0.1:8080/
 * ```
 * @throws Error when the app is not in `appDir`, esbuild is not installed (a devDependency), or the app does not build
 */
export async function buildAppBundle(options: AppBundleOptions = {}): Promise<AppBundle> {
  const appDir = options.appDir ?? DEFAULT_APP_DIR;
  if (!existsSync(join(appDir, 'main.ts')) || !existsSync(join(appDir, 'index.html'))) {
    throw new Error(
      `buildAppBundle: no app at ${appDir} (expected main.ts, style.css and index.html); ` +
        'the app ships in the statesocket repository, not in the package: pass appDir',
    );
  }
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    throw new Error('buildAppBundle needs esbuild (a devDependency of statesocket): run npm install in the repository', { cause: error });
  }
  const outdir = join(appDir, 'out');
  const result = await esbuild.build({
    entryPoints: [
      { in: join(appDir, 'main.ts'), out: 'app' },
      { in: join(appDir, 'style.css'), out: 'app' },
    ],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    chunkNames: 'chunk-[hash]',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    write: false,
    logLevel: 'silent',
  });

  const files = new Map<string, AppFile>();
  for (const output of result.outputFiles) {
    const path = `/${relative(outdir, output.path).split(sep).join('/')}`;
    files.set(path, { contentType: contentTypeOf(path), body: output.contents });
  }
  const html: AppFile = { contentType: CONTENT_TYPES['.html'] as string, body: readFileSync(join(appDir, 'index.html')) };
  files.set('/', html);
  files.set('/index.html', html);

  return {
    files,
    staticHandler(req, res) {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const file = files.get(path);
      if (file === undefined) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
        res.end(`use GET ${path}\n`);
        return true;
      }
      const headers: Record<string, string> = {
        'content-type': file.contentType,
        'content-length': String(file.body.byteLength),
        // built at start-up: a restarted server may serve another build
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      };
      if (file.contentType.startsWith('text/html')) headers['content-security-policy'] = contentSecurityPolicy(req.headers.host);
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : file.body);
      return true;
    },
  };
}
