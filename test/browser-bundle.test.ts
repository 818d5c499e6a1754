import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('browser bundle', () => {
  it('bundles the default entry for the browser without ws or node: modules', async () => {
    const result = await build({
      entryPoints: ['src/index.ts'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      minify: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((path) => /node_modules\/ws\//.test(path) || path.startsWith('node:'))).toEqual([]);
    expect(inputs.some((path) => path.includes('node_modules/xstate/'))).toBe(true);
  });

  it('bundles statesocket/react for the browser (React left to the page) without ws or node: modules', async () => {
    const result = await build({
      entryPoints: ['src/react/index.ts'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      minify: true,
      external: ['react'],
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((path) => /node_modules\/(ws|react|react-dom)\//.test(path) || path.startsWith('node:'))).toEqual([]);
    expect(inputs.some((path) => path.startsWith('src/react/'))).toBe(true);
  });
});
