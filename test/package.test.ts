/**
 * What each published entry pulls in, read from esbuild's metafile (the
 * import graph as a bundler sees it, packages left external):
 * - the root entry reaches nothing of the server, the CLI, the testing kit or
 *   the inspector, in browsers or in Node (where the inspector is a dynamic
 *   import, made only for `inspect: { url }`);
 * - no published file imports a devDependency: only dependencies, Node's
 *   built-ins and, behind a dynamic import or in `statesocket/inspect`, the
 *   optional peer dependencies;
 * - the declarations it publishes compile in a project without the DOM
 *   library (`lib: ["es2022"]`, `skipLibCheck: false`), whichever export
 *   condition the project resolves.
 */
import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import { build, type Metafile } from 'esbuild';
import ts from 'typescript';
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
  'statesocket/server/redis': 'src/server/redis/index.ts',
  'statesocket/testing': 'src/testing/index.ts',
  'statesocket/inspect': 'src/inspect/index.ts',
  'statesocket/react': 'src/react/index.ts',
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

  it('loads @statelyai/inspect in statesocket/inspect only when createRelayInspector is called, so importing it needs no peer', async () => {
    const entry = ENTRIES['statesocket/inspect'];
    const graph = walk(await metafileOf(entry, 'browser'), entry);
    expect([...graph.staticPackages].filter((pkgName) => OPTIONAL_PEERS.has(pkgName))).toEqual([]);
    expect(graph.dynamicPackages.has('@statelyai/inspect')).toBe(true);
  });

  it.each(Object.entries(ENTRIES).filter(([name]) => name !== 'statesocket/react'))('%s reaches nothing of React', async (name, entry) => {
    const graph = walk(await metafileOf(entry, name === 'statesocket (browser)' ? 'browser' : 'node'), entry);
    expect([...graph.staticModules].filter((path) => path.startsWith('src/react/'))).toEqual([]);
    expect([...graph.staticPackages, ...graph.dynamicPackages].filter((pkgName) => pkgName === 'react' || pkgName.startsWith('react-'))).toEqual([]);
  });

  it('statesocket/react imports react and the client, nothing of the server, the testing kit or the inspector', async () => {
    const entry = ENTRIES['statesocket/react'];
    const graph = walk(await metafileOf(entry, 'browser'), entry);
    expect([...graph.staticModules].filter((path) => /^(src\/(server|testing|inspect)\/|scripts\/)/.test(path))).toEqual([]);
    expect([...graph.staticPackages].sort()).toEqual(['react', 'xstate']);
  });

  it.each(Object.entries(ENTRIES))('%s imports only dependencies, built-ins and optional peers', async (name, entry) => {
    const platform = name === 'statesocket (browser)' ? 'browser' : 'node';
    const graph = walk(await metafileOf(entry, platform), entry);
    // statesocket/inspect and statesocket/server/redis are what one installs their peer for
    // (@statelyai/inspect, ioredis); elsewhere optional peers are loaded on demand.
    const peerEntry = name === 'statesocket/inspect' || name === 'statesocket/server/redis' || name === 'statesocket/react';
    const staticAllowed = (pkgName: string) => DEPENDENCIES.has(pkgName) || BUILTINS.has(pkgName) || (peerEntry && OPTIONAL_PEERS.has(pkgName));
    expect([...graph.staticPackages].filter((pkgName) => !staticAllowed(pkgName))).toEqual([]);
    expect([...graph.dynamicPackages].filter((pkgName) => !staticAllowed(pkgName) && !OPTIONAL_PEERS.has(pkgName))).toEqual([]);
  });
});

const ROOT = `${process.cwd()}/`;

/** The declarations `npm run build` would publish for the client entries, emitted in memory from the current source. */
function emitDeclarations(): Map<string, string> {
  const config = ts.getParsedCommandLineOfConfigFile('tsconfig.build.json', {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (config === undefined) throw new Error('tsconfig.build.json did not parse');
  const files = new Map<string, string>();
  const program = ts.createProgram(['src/index.ts', 'src/node.ts', 'src/testing/index.ts'], {
    ...config.options,
    declaration: true,
    emitDeclarationOnly: true,
    noCheck: true,
  });
  program.emit(undefined, (name, text) => files.set(name, text));
  return files;
}

/**
 * Type-checks `source` as a consumer's module inside the package (so `statesocket` resolves to
 * itself through package.json's exports, onto the declarations given), with `options`.
 * Returns the errors, leaving out those of third-party declarations (xstate's need `AbortSignal`).
 */
function consumerErrors(declarations: Map<string, string>, source: string, options: ts.CompilerOptions): string[] {
  const consumer = `${ROOT}.types-consumer/consumer.mts`;
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  const text = (path: string) => (path === consumer ? source : declarations.get(path));
  host.fileExists = (path) => text(path) !== undefined || fileExists.call(host, path);
  host.readFile = (path) => text(path) ?? readFile.call(host, path);
  host.getSourceFile = (path, language, onError, create) => {
    const own = text(path);
    if (own !== undefined) return ts.createSourceFile(path, own, language, true);
    return getSourceFile.call(host, path, language, onError, create);
  };
  const program = ts.createProgram([consumer], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file === undefined || !diagnostic.file.fileName.includes('/node_modules/'))
    .map((diagnostic) => `${diagnostic.file?.fileName.replace(ROOT, '') ?? ''}: TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`);
}

const CONSUMER = `
import { createConnection, domView, type DomView } from 'statesocket';
import { createTestConnection } from 'statesocket/testing';

// docs/inspector.md: the relay's URL, in Node; other entries take it too (and refuse it at run time in browsers)
const connection = createConnection({ url: 'ws://127.0.0.1:8080', inspect: { url: 'ws://127.0.0.1:8090/inspect' } });
connection.stop();
declare const rows: Parameters<typeof domView>[0]['rows'];
export const view: DomView<unknown> = domView({ rows });
export const tested = createTestConnection();
`;

describe('published declarations', () => {
  const NO_DOM: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    strict: true,
    skipLibCheck: false,
    noEmit: true,
  };

  it('compile without the DOM library, through the default export condition (moduleResolution "bundler")', () => {
    const declarations = emitDeclarations();
    expect(declarations.size).toBeGreaterThan(20);
    const errors = consumerErrors(declarations, CONSUMER, {
      ...NO_DOM,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      types: [],
    });
    expect(errors).toEqual([]);

    // ...and through the node condition, with Node's types instead of the DOM's
    const nodeErrors = consumerErrors(declarations, CONSUMER, {
      ...NO_DOM,
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
      types: ['node'],
    });
    expect(nodeErrors).toEqual([]);
  }, 120_000);
});
