/**
 * docs/server.md: its example is test/server/examples/your-http-server.ts word for word (with
 * the package's import names), which `npm run typecheck` type-checks and this test runs against
 * the real server on 127.0.0.1; and every option of `startSyncServer` has a row with its default.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_SERVER_OPTIONS } from '../../src/server/server-options.js';
import { withTimeout } from '../support/cleanup.js';

const DOC = readFileSync(new URL('../../docs/server.md', import.meta.url), 'utf8');
const EXAMPLE = new URL('./examples/your-http-server.ts', import.meta.url);
const NEXT_TO_WS = new URL('./examples/next-to-ws.ts', import.meta.url);

/** The example as a user writes it: the package's entries instead of the repository's paths. */
function asUserWritesIt(source: string): string {
  return source
    .replace("from '../../../src/node.js'", "from 'statesocket'")
    .replace("from '../../../src/server/index.js'", "from 'statesocket/server'");
}

/** The ts block after `<!-- example: test/server/examples/<name> -->` in docs/server.md. */
function exampleBlock(name: string): string | undefined {
  const marker = `<!-- example: test/server/examples/${name} -->\n\`\`\`ts\n`;
  const start = DOC.indexOf(marker);
  if (start === -1) return undefined;
  const from = start + marker.length;
  return DOC.slice(from, DOC.indexOf('```', from));
}

describe('docs/server.md', () => {
  it('shows the example that this test runs', () => {
    const block = /<!-- example: test\/server\/examples\/your-http-server\.ts -->\n```ts\n([\s\S]*?)```/.exec(DOC)?.[1];
    expect(block, 'docs/server.md needs the example block after its marker').toBeDefined();
    expect(block).toBe(asUserWritesIt(readFileSync(EXAMPLE, 'utf8')));
  });

  it('runs the example: the client prints the data the server changed', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await withTimeout(import(EXAMPLE.href), 'the example to finish');
      expect(log).toHaveBeenCalledWith({ greeting: 'hello', count: 1 });
    } finally {
      log.mockRestore();
    }
  });

  it('shows the example next to another WebSocket server that this test runs', () => {
    const block = exampleBlock('next-to-ws.ts');
    expect(block, 'docs/server.md needs the example block after its marker').toBeDefined();
    expect(block).toBe(asUserWritesIt(readFileSync(NEXT_TO_WS, 'utf8')));
  });

  it('runs the example next to ws (noServer): both servers answer on one port, and nothing is warned', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      await withTimeout(import(NEXT_TO_WS.href), 'the example to finish');
      expect(log).toHaveBeenCalledWith('welcome to the chat');
      expect(log).toHaveBeenCalledWith({ topic: 'news' });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      log.mockRestore();
      warn.mockRestore();
    }
  });

  it('has a row for every option, with its default', () => {
    const options = [
      ...Object.keys(DEFAULT_SERVER_OPTIONS),
      'path', 'control', 'controlToken', 'token', 'allowedOrigins', 'trustProxy', 'authThrottle', 'dataFile', 'clock', 'random', 'staticHandler',
    ];
    const missing = options.filter((option) => !DOC.includes(`| \`${option}\` |`));
    expect(missing, 'add these options to the table in docs/server.md').toEqual([]);
    for (const [option, value] of Object.entries(DEFAULT_SERVER_OPTIONS)) {
      const row = DOC.split('\n').find((line) => line.startsWith(`| \`${option}\` |`)) ?? '';
      const shown = typeof value === 'string' ? `\`'${value}'\`` : `\`${value}\``;
      expect(row, `the default of ${option} in docs/server.md`).toContain(shown);
    }
  });
});
