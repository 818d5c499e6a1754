/**
 * The engine-baseline scenario's other server: the reference server as of `BASELINE_COMMIT`, the
 * last commit before issue 14 put the server's state behind an engine (its first commit is
 * cbedc91). Built at bench time from this checkout's git history: `git archive` of its `src`,
 * `machines`, `package.json` and `tsconfig.json` into a temporary directory, a six-line entry
 * there that runs this checkout's sync-server role (bench/roles/sync-server.ts) over that tree's
 * `startSyncServer`, bundled with esbuild as every bench child is. Its packages (`ws`, `xstate`)
 * are this checkout's. The current server is bundled from the same entry over this checkout's
 * `startSyncServer` (`buildCurrentServer`), not run from the bench's client bundle, whose other
 * roles load socket.io and the client libraries: the two processes hold the same code but ours.
 *
 * Never throws: without git, in a shallow clone or a tarball (no such commit), or when the old
 * tree does not build, it answers why, and the scenario's baseline rows say so unjudged.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleFile } from './children.js';

export const BASELINE_COMMIT = '7a19d3a';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARCHIVED = ['src', 'machines', 'package.json', 'tsconfig.json'];
/** The extracted tree is about 1.2 MB; the tar stream is read whole. */
const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;

export type Baseline = { available: true; commit: string; modulePath: string } | { available: false; reason: string };

export async function buildBaseline(commit = BASELINE_COMMIT): Promise<Baseline> {
  const resolved = git(['rev-parse', '--verify', '--quiet', `${commit}^{commit}`]);
  if (!resolved.ok) {
    return { available: false, reason: `commit ${commit} is not in this checkout's git history (${resolved.error}; a shallow clone or a tarball has none: \`git fetch --unshallow\` brings it)` };
  }
  const tree = mkdtempSync(join(tmpdir(), `statesocket-baseline-${commit}-`));
  try {
    const archive = spawnSync('git', ['-C', ROOT, 'archive', '--format=tar', commit, ...ARCHIVED], { maxBuffer: MAX_ARCHIVE_BYTES });
    if (archive.status !== 0) return { available: false, reason: `git archive ${commit} failed: ${failure(archive)}` };
    const untar = spawnSync('tar', ['-x', '-C', tree], { input: archive.stdout });
    if (untar.status !== 0) return { available: false, reason: `extracting ${commit}'s tree failed: ${failure(untar)}` };
    const entry = writeServerEntry(tree, './src/server/start.ts');
    const modulePath = await bundleFile(entry, `baseline-server-${commit}`);
    return { available: true, commit: resolved.output, modulePath };
  } catch (error) {
    return { available: false, reason: `building the server of ${commit} failed: ${(error as Error).message}` };
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

/** This checkout's server, bundled from the same entry as the baseline's. */
export async function buildCurrentServer(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-current-'));
  try {
    return await bundleFile(writeServerEntry(dir, join(ROOT, 'src/server/start.ts')), 'current-server');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An entry in `dir` running the sync-server role over the `startSyncServer` of `startModule`. */
function writeServerEntry(dir: string, startModule: string): string {
  const entry = join(dir, 'bench-sync-server.ts');
  writeFileSync(
    entry,
    [
      `import { attachToParent, fail } from ${JSON.stringify(join(ROOT, 'bench/lib/ipc.ts'))};`,
      `import { syncServerRole } from ${JSON.stringify(join(ROOT, 'bench/roles/sync-server.ts'))};`,
      `import { startSyncServer } from ${JSON.stringify(startModule)};`,
      'attachToParent();',
      'const [role, json = "{}"] = process.argv.slice(2);',
      'if (role !== "sync-server") await fail(new Error(`this entry runs the sync-server role only; received ${role}`));',
      'else await syncServerRole(JSON.parse(json), startSyncServer).catch(fail);',
      '',
    ].join('\n'),
  );
  return entry;
}

function git(args: string[]): { ok: true; output: string } | { ok: false; error: string } {
  const result = spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
  if (result.status === 0) return { ok: true, output: result.stdout.trim() };
  return { ok: false, error: result.error !== undefined ? result.error.message : result.stderr.trim() || `git exited with ${result.status}` };
}

function failure(result: ReturnType<typeof spawnSync>): string {
  if (result.error !== undefined) return result.error.message;
  const stderr = String(result.stderr ?? '').trim();
  return stderr || `exit code ${result.status}`;
}
