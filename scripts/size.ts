/**
 * `npm run size`: what the client costs a browser page. Bundles, with esbuild
 * for the browser (minified, ES2022), the typical client import (with the
 * default protocol, which brings channels: src/channel-runtime.ts) and the whole
 * root entry, and prints their minified and gzipped sizes and the largest
 * packages in each. Measures only: the figure goes in the README and CI's log.
 *
 *   npm run size            table
 *   npm run size -- --json  one JSON object
 */
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What is measured: a name and the module source that imports it. */
export const IMPORTS = [
  {
    name: 'typical client import (createConnection, createStore; the default protocol, version 2)',
    source: "import { createConnection, createStore } from './src/index.ts';\nexport const used = [createConnection, createStore];",
  },
  { name: "import * of the root entry ('statesocket')", source: "export * from './src/index.ts';" },
] as const;

export interface SizeReport {
  name: string;
  minifiedBytes: number;
  gzippedBytes: number;
  /** Minified bytes per package (`statesocket` for our own modules), largest first. */
  byPackage: Record<string, number>;
}

function packageOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return match?.[1] ?? 'statesocket';
}

/** Measures one import. */
export async function measure(name: string, source: string): Promise<SizeReport> {
  const result = await build({
    stdin: { contents: source, resolveDir: ROOT, loader: 'ts', sourcefile: 'size-entry.ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('size: esbuild produced no output');
  const byPackage: Record<string, number> = {};
  for (const out of Object.values(result.metafile.outputs)) {
    for (const [path, input] of Object.entries(out.inputs)) {
      const key = packageOf(path);
      byPackage[key] = (byPackage[key] ?? 0) + input.bytesInOutput;
    }
  }
  const sorted = Object.fromEntries(Object.entries(byPackage).sort((a, b) => b[1] - a[1]));
  return { name, minifiedBytes: output.contents.byteLength, gzippedBytes: gzipSync(output.contents, { level: 9 }).byteLength, byPackage: sorted };
}

const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB`;

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const reports = await Promise.all(IMPORTS.map((entry) => measure(entry.name, entry.source)));
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(reports, null, 2));
  } else {
    for (const report of reports) {
      const parts = Object.entries(report.byPackage)
        .map(([name, bytes]) => `${name} ${kb(bytes)}`)
        .join(', ');
      console.log(`${report.name}: ${kb(report.gzippedBytes)} gzipped, ${kb(report.minifiedBytes)} minified (${parts})`);
    }
  }
}
