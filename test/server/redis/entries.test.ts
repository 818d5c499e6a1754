/**
 * The Redis engine is an optional part: `ioredis` is an optional peer dependency, loaded only by
 * `statesocket/server/redis`. Read from esbuild's metafile (the import graph as a bundler sees it).
 */
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  exports: Record<string, unknown>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  devDependencies: Record<string, string>;
  dependencies: Record<string, string>;
};

/** Our modules and the packages an entry reaches (with `dynamic` false, through static imports only). */
async function reach(entry: string, platform: 'node' | 'browser', dynamic = true): Promise<{ modules: string[]; packages: string[] }> {
  const result = await build({ entryPoints: [entry], bundle: true, platform, format: 'esm', packages: 'external', write: false, metafile: true, logLevel: 'silent' });
  const modules = new Set<string>();
  const packages = new Set<string>();
  const visit = (path: string) => {
    if (modules.has(path)) return;
    modules.add(path);
    for (const imported of result.metafile.inputs[path]?.imports ?? []) {
      if (!dynamic && imported.kind === 'dynamic-import') continue;
      if (imported.external === true) packages.add(imported.path.split('/')[0] as string);
      else visit(imported.path);
    }
  };
  visit(entry);
  return { modules: [...modules], packages: [...packages] };
}

describe('the Redis engine entry', () => {
  it('is published as statesocket/server/redis, with ioredis an optional peer (and a devDependency for the tests)', () => {
    expect(pkg.exports['./server/redis']).toEqual({ types: './dist/src/server/redis/index.d.ts', default: './dist/src/server/redis/index.js' });
    expect(pkg.peerDependencies.ioredis).toBeDefined();
    expect(pkg.peerDependenciesMeta.ioredis?.optional).toBe(true);
    expect(pkg.devDependencies.ioredis).toBeDefined();
    expect(pkg.dependencies.ioredis).toBeUndefined();
  });

  it.each([
    ['statesocket (node)', 'src/node.ts', 'node'],
    ['statesocket (browser)', 'src/index.ts', 'browser'],
  ] as const)('%s never loads ioredis nor the redis folder, even behind a dynamic import', async (_name, entry, platform) => {
    const graph = await reach(entry, platform);
    expect(graph.packages).not.toContain('ioredis');
    expect(graph.modules.filter((path) => path.startsWith('src/server/redis/'))).toEqual([]);
  });

  // startSyncServer({ redis }) (and so --redis) imports the engine when, and only when, it is asked for.
  it.each([
    ['statesocket/server', 'src/server/index.ts'],
    ['statesocket-server', 'scripts/server.ts'],
  ] as const)('%s loads the redis folder only behind the dynamic import of the redis option', async (_name, entry) => {
    const graph = await reach(entry, 'node', false);
    expect(graph.packages).not.toContain('ioredis');
    expect(graph.modules.filter((path) => path.startsWith('src/server/redis/'))).toEqual([]);
    expect((await reach(entry, 'node')).modules).toContain('src/server/redis/index.ts');
  });

  it('statesocket/server/redis loads ioredis and nothing else outside dependencies and Node built-ins', async () => {
    const graph = await reach('src/server/redis/index.ts', 'node');
    expect(graph.packages).toContain('ioredis');
    const allowed = (name: string) => name === 'ioredis' || name.startsWith('node:') || name in pkg.dependencies;
    expect(graph.packages.filter((name) => !allowed(name))).toEqual([]);
  });
});
