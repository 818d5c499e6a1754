/**
 * What each published entry pulls in, read from esbuild's metafile (the
 * import graph as a bundler sees it, packages left external):
 * - the root entry reaches nothing of the server, the CLI, the testing kit or
 *   the inspector, in browsers or in Node (where the inspector is a dynamic
 *   import, made only for `inspect: { url }`);
 * - no published file imports a devDependency: only dependencies, Node's
 *   built-ins and, behind a dynamic import or in `statesocket/inspect`, the
 *   optional peer dependencies.
 */
import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  bin: Record<string, string>;
};

/** Published entries (package.json's exports and bin) and their sources. */
const ENTRIES = {
  'statesocket (browser)': 'src/index.ts',
  'statesocket (node)': 'src/node.ts',
  'statesocket/server': 'src/server/index.ts',
  'statesocket/testing': 'src/testing/index.ts',
  'statesocket/inspect': 'src/inspect/index.ts',
  'statesocket-server': 'scripts/server.ts',
  'statesocket-client': 'scripts/client.ts',
  'statesocket-inspect': 'scripts/inspect.ts',
} as const;

interface Graph {
  /** Our modules reached through static imports. */
  staticModules: Set<string>;
  /** Packages (and node: modules) imported statically, or only behind a dynamic import(). */
  staticPackages: Set<string>;
  dynamicPackages: Set<string>;
}

async function metafileOf(entry: string, platform: 'browser' | 'node'): Promise<Metafile> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform,
    format: 'esm',
    packages: 'external',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return result.metafile;
}

function packageName(path: string): string {
  if (path.startsWith('node:')) return path;
  const parts = path.split('/');
  return path.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
}

/** Walks the graph from `entry`: what is reached without a dynamic import(), and what only with one. */
function walk(meta: Metafile, entry: string): Graph {
  const reach = (followDynamic: boolean) => {
    const modules = new Set<string>();
    const packages = new Set<string>();
    const visit = (path: string) => {
      if (modules.has(path)) return;
      modules.add(path);
      for (const imported of meta.inputs[path]?.imports ?? []) {
        if (imported.kind === 'dynamic-import' && !followDynamic) continue;
        if (imported.external === true) packages.add(packageName(imported.path));
        else visit(imported.path);
      }
    };
    visit(entry);
    return { modules, packages };
  };
  const fixed = reach(false);
  const all = reach(true);
  return {
    staticModules: fixed.modules,
    staticPackages: fixed.packages,
    dynamicPackages: new Set([...all.packages].filter((name) => !fixed.packages.has(name))),
  };
}

const BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
const DEPENDENCIES = new Set(Object.keys(pkg.dependencies));
const OPTIONAL_PEERS = new Set(Object.keys(pkg.peerDependencies).filter((name) => pkg.peerDependenciesMeta[name]?.optional === true));

describe('package entries', () => {
  it('lists every bin of package.json here', () => {
    expect(Object.keys(pkg.bin).sort()).toEqual(Object.keys(ENTRIES).filter((name) => !name.startsWith('statesocket ') && !name.includes('/')).sort());
  });

  it('keeps the server, the CLI, the testing kit and the inspector out of the root entry in browsers', async () => {
    const graph = walk(await metafileOf(ENTRIES['statesocket (browser)'], 'browser'), ENTRIES['statesocket (browser)']);
    expect([...graph.staticModules].filter((path) => /^(src\/(server|testing|inspect)\/|scripts\/)/.test(path))).toEqual([]);
    expect([...graph.staticPackages, ...graph.dynamicPackages].sort()).toEqual(['xstate', 'zod'].filter((name) => DEPENDENCIES.has(name)));
  });

  it('keeps them out in Node too, where the inspector is loaded only by inspect: { url }', async () => {
    const entry = ENTRIES['statesocket (node)'];
    const graph = walk(await metafileOf(entry, 'node'), entry);
    expect([...graph.staticModules].filter((path) => /^(src\/(server|testing|inspect)\/|scripts\/)/.test(path))).toEqual([]);
    expect(graph.staticPackages.has('@statelyai/inspect')).toBe(false);
    expect(graph.dynamicPackages.has('@statelyai/inspect')).toBe(true);
  });

  it.each(Object.entries(ENTRIES))('%s imports only dependencies, built-ins and optional peers', async (name, entry) => {
    const platform = name === 'statesocket (browser)' ? 'browser' : 'node';
    const graph = walk(await metafileOf(entry, platform), entry);
    // statesocket/inspect is what one installs the inspector for; elsewhere optional peers are loaded on demand.
    const staticAllowed = (pkgName: string) =>
      DEPENDENCIES.has(pkgName) || BUILTINS.has(pkgName) || (name === 'statesocket/inspect' && OPTIONAL_PEERS.has(pkgName));
    expect([...graph.staticPackages].filter((pkgName) => !staticAllowed(pkgName))).toEqual([]);
    expect([...graph.dynamicPackages].filter((pkgName) => !staticAllowed(pkgName) && !OPTIONAL_PEERS.has(pkgName))).toEqual([]);
  });
});
