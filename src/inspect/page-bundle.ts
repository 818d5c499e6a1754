/**
 * The inspector page's scripts (Node only), so the page needs nothing from
 * the network: the page's own code bundled by esbuild at startup (tens of
 * milliseconds), and elkjs' browser build served as it ships (a classic
 * script defining `window.ELK`; running 1.6 MB of it through esbuild would
 * cost most of a second for nothing). The entry is `page/main.ts` next to this
 * file when running from source, `page/main.js` in `dist/`.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface PageBundle {
  /** The page's script (an ES module). */
  readonly js: string;
  /** elkjs' browser build (a classic script). */
  readonly elk: string;
  /** How long esbuild took, in milliseconds. */
  readonly buildMs: number;
}

/** The page's entry file next to this module. */
export function pageEntry(): string {
  for (const name of ['./page/main.ts', './page/main.js']) {
    const path = fileURLToPath(new URL(name, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`inspector page: no page/main.ts or page/main.js next to ${fileURLToPath(import.meta.url)}`);
}

/**
 * Bundles the page. esbuild and elkjs are development dependencies: the relay
 * is a development tool (`npm run inspect`), not part of what an app ships.
 * @throws when either is missing or the page does not compile
 */
export async function buildPageBundle(): Promise<PageBundle> {
  const require = createRequire(import.meta.url);
  let esbuild: typeof import('esbuild');
  let elkPath: string;
  try {
    esbuild = await import('esbuild');
    elkPath = require.resolve('elkjs/lib/elk.bundled.js');
  } catch (error) {
    throw new Error(`inspector page: esbuild and elkjs are needed to serve the page (npm install --save-dev esbuild elkjs): ${(error as Error).message}`, {
      cause: error,
    });
  }
  const started = performance.now();
  const [result, elk] = await Promise.all([
    esbuild.build({
      entryPoints: [pageEntry()],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      write: false,
      logLevel: 'silent',
      legalComments: 'none',
    }),
    readFile(elkPath, 'utf8'),
  ]);
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error('inspector page: esbuild produced no output');
  return { js: file.text, elk, buildMs: Math.round(performance.now() - started) };
}
