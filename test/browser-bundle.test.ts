import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** The files esbuild takes into a minified browser bundle of `entry` (the `external` packages left out). */
async function browserInputs(entry: string, external: string[] = []): Promise<string[]> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    minify: true,
    external,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('browser bundle', () => {
  it('bundles the default entry for the browser without ws or node: modules', async () => {
    const inputs = await browserInputs('src/index.ts');
    expect(inputs.filter((path) => /node_modules\/ws\//.test(path) || path.startsWith('node:'))).toEqual([]);
    expect(inputs.some((path) => path.includes('node_modules/xstate/'))).toBe(true);
  });

  it('bundles statesocket/react for the browser (React left to the page) without ws or node: modules', async () => {
    const inputs = await browserInputs('src/react/index.ts', ['react']);
    expect(inputs.filter((path) => /node_modules\/(ws|react|react-dom)\//.test(path) || path.startsWith('node:'))).toEqual([]);
    expect(inputs.some((path) => path.startsWith('src/react/'))).toBe(true);
  });
});
