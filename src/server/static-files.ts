/**
 * The browser app (`app/`) as files (Node only): built by `npm run build`
 * into `dist/www/app/` (see src/assets.ts), read once at start-up and served
 * from memory through `staticHandler` for `startSyncServer`:
 *
 * | path                   | what                                               |
 * |------------------------|----------------------------------------------------|
 * | `/`, `/index.html`     | `index.html` (any query, e.g. `?inspect=ws://…`)   |
 * | `/app.js`, `/app.css`  | the bundle and the stylesheet                      |
 * | `/chunk-*.js`          | code loaded on demand (the inspector)              |
 * | `*.map`                | source maps                                        |
 *
 * The React example (`app/react/`, built into `dist/www/react/`) is served the same way under
 * `/react` (`loadReactAppFiles`): `/react`, `/react/`, `/react/react.js`, `/react/react.css`.
 *
 * Everything comes from this server: no CDN, and the page works offline.
 * Every other path is left to the server (404).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { assetDir } from '../assets.js';
import { parseHost } from './access.js';

/** One file served from memory. */
export interface AppFile {
  contentType: string;
  body: Uint8Array;
}

export interface AppBundle {
  /** Served files by URL path (`/`, `/app.js`, …). */
  readonly files: ReadonlyMap<string, AppFile>;
  /** For `startSyncServer({ staticHandler })`: answers GET and HEAD for the app's paths, returns false for any other. */
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
 * app's `judgeRelayUrl` accepts (app/inspect-url.ts; test/server/static-files.test.ts keeps
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

/** The content type for a file name or URL path. */
export function contentTypeOf(path: string): string {
  const dot = path.lastIndexOf('.');
  return CONTENT_TYPES[dot === -1 ? '' : path.slice(dot)] ?? 'application/octet-stream';
}

/** Where the React example is served. */
export const REACT_APP_BASE = '/react/';

/**
 * Serves `files` (keyed by URL path); for every folder `F/` holding an `index.html`, `F/` (and
 * `F` without its slash, but for `/`) is that file when not given.
 */
export function serveFiles(input: ReadonlyMap<string, AppFile>): AppBundle {
  const files = new Map(input);
  for (const [path, file] of input) {
    if (!path.endsWith('/index.html')) continue;
    const folder = path.slice(0, -'index.html'.length);
    for (const alias of folder === '/' ? [folder] : [folder, folder.slice(0, -1)]) if (!files.has(alias)) files.set(alias, file);
  }
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
        // read at start-up: a restarted server may serve another build
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

/**
 * Reads the built app (a flat folder) and returns the handler that serves it.
 *
 * @example
 * ```ts
 * const app = loadAppFiles();
 * const server = await startSyncServer({ port: 8080, staticHandler: app.staticHandler });
 * // open http://127.0.0.1:8080/
 * ```
 * @throws Error naming the folder when it holds no built app (`npm run build` makes it)
 */
export function loadAppFiles(dir: string = assetDir('app')): AppBundle {
  return serveFiles(readBuiltFolder(dir, '/', 'app.js'));
}

/**
 * Reads the built React example and returns the handler that serves it under `/react`
 * (not exported by `statesocket/server`: the reference server and `npm start` serve it).
 *
 * @throws Error naming the folder when it holds no built example (`npm run build` makes it)
 */
export function loadReactAppFiles(dir: string = assetDir('react')): AppBundle {
  return serveFiles(readBuiltFolder(dir, REACT_APP_BASE, 'react.js'));
}

/**
 * The programs' browser pages as one handler: the DOM app at `/` and the React example at
 * `/react`. One that is not built is left out, and `warn` says why; undefined when neither is.
 */
export function loadBuiltApps(warn: (message: string) => void): AppBundle | undefined {
  const bundles: AppBundle[] = [];
  for (const [what, load] of [['the browser app', loadAppFiles], ['the React example', loadReactAppFiles]] as const) {
    try {
      bundles.push(load());
    } catch (error) {
      warn(`${what} is not served (${(error as Error).message})`);
    }
  }
  return bundles.length === 0 ? undefined : serveFiles(new Map(bundles.flatMap((bundle) => [...bundle.files])));
}

/** The files of a flat built folder, keyed by URL path under `base`. */
function readBuiltFolder(dir: string, base: string, script: string): Map<string, AppFile> {
  if (!existsSync(join(dir, 'index.html')) || !existsSync(join(dir, script))) {
    throw new Error(`no built app at ${dir} (expected index.html and ${script}); in the statesocket repository, npm run build makes it`);
  }
  const files = new Map<string, AppFile>();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    files.set(`${base}${name}`, { contentType: contentTypeOf(name), body: readFileSync(path) });
  }
  return files;
}
