/**
 * The inspector page's scripts (Node only), built by `npm run build` into
 * `dist/www/inspector/` (see src/assets.ts): the page's own code bundled by
 * esbuild, and elkjs' browser build as it ships (a classic script defining
 * `window.ELK`), with elkjs' license (EPL-2.0) next to it. The page needs
 * nothing from the network, and the relay nothing but these files.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assetDir } from '../assets.js';

export interface PageBundle {
  /** The page's script (an ES module). */
  readonly js: string;
  /** elkjs' browser build (a classic script). */
  readonly elk: string;
}

/** The files `npm run build` writes for the page. */
export const PAGE_FILES = { js: 'inspector.js', elk: 'elk.js', elkLicense: 'elk.LICENSE.md' } as const;

/**
 * Reads the built page.
 * @throws Error naming the folder when the page is not built
 */
export async function loadPageBundle(dir: string = assetDir('inspector')): Promise<PageBundle> {
  try {
    const [js, elk] = await Promise.all([readFile(join(dir, PAGE_FILES.js), 'utf8'), readFile(join(dir, PAGE_FILES.elk), 'utf8')]);
    return { js, elk };
  } catch (error) {
    throw new Error(`inspector page: not built at ${dir} (${(error as Error).message}); in the statesocket repository, npm run build makes it`, {
      cause: error,
    });
  }
}
