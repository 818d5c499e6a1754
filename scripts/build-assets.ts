/**
 * Bundles what the package serves to browsers, so nothing it runs needs a
 * devDependency (part of `npm run build`; never published, never imported by
 * a published file):
 *
 * | output                              | from                                         |
 * |-------------------------------------|----------------------------------------------|
 * | `dist/www/app/`                     | `app/` (index.html, main.ts, style.css)       |
 * | `dist/www/react/`                   | `app/react/` (index.html, main.tsx), React bundled in, and `app/style.css` |
 * | `dist/www/inspector/inspector.js`   | `src/inspect/page/main.ts`                   |
 * | `dist/www/inspector/elk.js`         | elkjs' browser build, as it ships            |
 * | `dist/www/inspector/elk.LICENSE.md` | elkjs' license (EPL-2.0), shipped with it     |
 *
 * Read at run time by src/server/static-files.ts and src/inspect/page-files.ts
 * (through src/assets.ts). `npm run server`, `npm start`, `npm run inspect`
 * and the test suite run it first, so the repository serves what it builds.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { PAGE_FILES } from '../src/inspect/page-files.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The output folder: `dist/www` in the repository. */
export const WWW_DIR = join(ROOT, 'dist', 'www');

/** The browser app, bundled in memory: file name → contents. */
export async function bundleApp(appDir = join(ROOT, 'app')): Promise<Map<string, Uint8Array>> {
  const outdir = join(appDir, 'out');
  const result = await build({
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
    minify: true,
    sourcemap: 'linked',
    write: false,
    logLevel: 'silent',
  });
  const files = new Map<string, Uint8Array>();
  for (const output of result.outputFiles) files.set(relative(outdir, output.path).split(sep).join('/'), output.contents);
  files.set('index.html', await readFile(join(appDir, 'index.html')));
  return files;
}

/**
 * The React example (`app/react/`), bundled in memory with React itself (production build with
 * profiling, JSX through esbuild) and the DOM app's stylesheet: file name → contents. Served at `/react/`, so its
 * index.html names its files by absolute path.
 */
export async function bundleReactApp(appDir = join(ROOT, 'app')): Promise<Map<string, Uint8Array>> {
  const reactDir = join(appDir, 'react');
  const outdir = join(reactDir, 'out');
  const result = await build({
    entryPoints: [
      { in: join(reactDir, 'main.tsx'), out: 'react' },
      { in: join(appDir, 'style.css'), out: 'react' },
    ],
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    // React picks its production build from this; nothing else in the page reads it
    define: { 'process.env.NODE_ENV': '"production"' },
    // React's production build with profiling on (same API, a little slower): the price table's
    // `<Profiler>` counts commits for the tests and the bench, which the plain build never reports
    alias: { 'react-dom/client': 'react-dom/profiling' },
    minify: true,
    // no source map: React's alone would add 1.8 MB to the package; the source is app/react/
    write: false,
    logLevel: 'silent',
  });
  const files = new Map<string, Uint8Array>();
  for (const output of result.outputFiles) files.set(relative(outdir, output.path).split(sep).join('/'), output.contents);
  files.set('index.html', await readFile(join(reactDir, 'index.html')));
  return files;
}

/** The inspector page: its script, elkjs' browser build and elkjs' license. */
export async function bundleInspectorPage(): Promise<Map<string, Uint8Array | string>> {
  const require = createRequire(import.meta.url);
  const elkPath = require.resolve('elkjs/lib/elk.bundled.js');
  const elkLicense = join(dirname(require.resolve('elkjs/package.json')), 'LICENSE.md');
  const [result, elk, license] = await Promise.all([
    build({
      entryPoints: [join(ROOT, 'src', 'inspect', 'page', 'main.ts')],
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
    readFile(elkLicense, 'utf8'),
  ]);
  const page = result.outputFiles[0];
  if (page === undefined) throw new Error('inspector page: esbuild produced no output');
  return new Map<string, Uint8Array | string>([
    [PAGE_FILES.js, page.contents],
    [PAGE_FILES.elk, elk],
    [PAGE_FILES.elkLicense, `elkjs (https://github.com/kieler/elkjs), shipped as elk.js next to this file, is under the Eclipse Public License 2.0:\n\n${license}`],
  ]);
}

async function writeFolder(dir: string, files: ReadonlyMap<string, Uint8Array | string>): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await Promise.all([...files].map(([name, body]) => writeFile(join(dir, name), body)));
}

/** Builds all three into `outDir` (default `dist/www`), replacing what was there. */
export async function buildAssets(outDir = WWW_DIR): Promise<void> {
  const [app, react, page] = await Promise.all([bundleApp(), bundleReactApp(), bundleInspectorPage()]);
  await writeFolder(join(outDir, 'app'), app);
  await writeFolder(join(outDir, 'react'), react);
  await writeFolder(join(outDir, 'inspector'), page);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildAssets();
}
