/**
 * The data file's edges: loading (sizes, records, what a startup error says) and writing
 * (a failed write reports its own cause).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataFileError, writeDataFileAtomic } from '../../src/server/node-server.js';
import { onCleanup } from '../support/cleanup.js';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'statesocket-datafile-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('writing the data file', () => {
  it('reports the write error itself when cleaning up the temp file fails too', () => {
    const dir = tempDir();
    const file = join(dir, 'data.json');
    // Directories where the temp files would go: opening one fails (EISDIR), and so would removing it.
    for (let n = 0; n < 50; n++) mkdirSync(join(dir, `.data.json.${process.pid}.${n}.tmp`));
    let thrown: unknown;
    try {
      writeDataFileAtomic(file, { data: { a: 1 }, appliedOpIds: [] });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DataFileError);
    expect(thrown).toMatchObject({ code: 'ERR_DATA_FILE', path: file, message: expect.stringMatching(/cannot write data file .*EISDIR/) });
    expect(readdirSync(dir)).not.toContain('data.json');
  });
});
