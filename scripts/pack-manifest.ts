/**
 * The package.json that goes into the tarball, without `scripts.prepare` (never published, never
 * imported by a published file; `prepack` and `postpack` run it).
 *
 * `prepare` builds dist/ when the repository is installed (`npm ci`). Shipped in the tarball it
 * does nothing for a package user (npm runs `prepare` only for git and folder dependencies), but
 * npm 11 lists it among the install scripts it has not been allowed to run, and warns at every
 * install: `statesocket@0.1.0 (prepare: npm run build)`. So `npm pack` and `npm publish` pack a
 * manifest without it:
 *
 *   npm pack ──▶ prepack: npm run build, then `strip` (package.json saved aside, written without prepare)
 *            ──▶ the tarball ──▶ postpack: `restore` (the saved package.json back)
 *
 * A pack that failed between the two leaves the saved copy: the next `strip` restores it first.
 *
 * Usage: tsx scripts/pack-manifest.ts strip|restore
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const MANIFEST = 'package.json';
const SAVED = '.package.json.before-pack';

function restore(): void {
  if (existsSync(SAVED)) renameSync(SAVED, MANIFEST);
}

function strip(): void {
  restore();
  const text = readFileSync(MANIFEST, 'utf8');
  const manifest = JSON.parse(text) as { scripts?: Record<string, string> };
  if (manifest.scripts?.prepare === undefined) return;
  writeFileSync(SAVED, text);
  delete manifest.scripts.prepare;
  writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
}

const command = process.argv[2];
if (command === 'strip') strip();
else if (command === 'restore') restore();
else {
  process.stderr.write(`pack-manifest: expected strip or restore; received ${JSON.stringify(command ?? null)}\n`);
  process.exit(2);
}
