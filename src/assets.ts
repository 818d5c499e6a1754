/**
 * Where the built browser files live (Node only): the browser app and the
 * inspector page are bundled by `npm run build` (scripts/build-assets.ts) into
 * `dist/www/`, published with the package and served as files, so nothing
 * the package runs needs esbuild or elkjs.
 *
 * | running from                  | this module          | built files          |
 * |-------------------------------|----------------------|----------------------|
 * | the package (`dist/`)         | `dist/src/assets.js` | `dist/www/<name>/`   |
 * | the repository, with tsx      | `src/assets.ts`      | `dist/www/<name>/`   |
 *
 * The repository's npm scripts and the test suite build them first.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built asset folders. */
export type AssetName = 'app' | 'react' | 'inspector';

/** Candidate folders for `name`, in the order they are tried. */
export function assetDirCandidates(name: AssetName): string[] {
  return [`../www/${name}/`, `../dist/www/${name}/`].map((path) => fileURLToPath(new URL(path, import.meta.url)));
}

/** The folder holding the built `name`, or the first candidate when none exists (the error then names it). */
export function assetDir(name: AssetName): string {
  const candidates = assetDirCandidates(name);
  return candidates.find((dir) => existsSync(dir)) ?? (candidates[0] as string);
}
