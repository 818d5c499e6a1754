/**
 * `npm run server|start|inspect|client` in the repository: builds the browser
 * files (scripts/build-assets.ts, a few hundred milliseconds) so that what is
 * served matches the source, then runs the program from source with the
 * remaining arguments. Never published: the installed package runs its
 * programs (`statesocket-server`, ...) from `dist/` with plain `node`.
 *
 *   tsx scripts/dev.ts server --port 0
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildAssets } from './build-assets.js';

const PROGRAMS = {
  server: './server.ts',
  client: './client.ts',
  inspect: './inspect.ts',
  demo: './demo.ts',
} as const;

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !(name in PROGRAMS)) {
  process.stderr.write(`usage: tsx scripts/dev.ts ${Object.keys(PROGRAMS).join('|')} [flags]\n`);
  process.exit(2);
}
try {
  await buildAssets();
} catch (error) {
  // The programs still run; they say what is missing when it is asked for.
  process.stderr.write(`dev: the browser files were not built (${(error as Error).message})\n`);
}
// The program sees itself as argv[1], as when run directly (scripts/client.ts checks it).
const program = fileURLToPath(new URL(PROGRAMS[name as keyof typeof PROGRAMS], import.meta.url));
process.argv = [process.argv[0] as string, program, ...rest];
await import(pathToFileURL(program).href);
