/**
 * Prints the connection statechart as a Mermaid diagram generated from the
 * machine definition. With `--write`, puts it in README.md between
 * `<!-- statechart:start -->` and `<!-- statechart:end -->` instead
 * (test/readme.test.ts fails while the README's copy is out of date).
 *
 *   npm run diagram
 *   npm run diagram -- --write
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connectionMachine } from '../machines/connection.js';
import { toMermaid } from '../src/inspect/mermaid.js';

const START = '<!-- statechart:start -->';
const END = '<!-- statechart:end -->';

const fenced = `\`\`\`mermaid\n${toMermaid(connectionMachine)}\`\`\``;

if (!process.argv.includes('--write')) {
  console.log(fenced);
} else {
  const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
  const readme = readFileSync(readmePath, 'utf8');
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end < start) {
    console.error(`diagram: README.md needs the markers ${START} and ${END}, in that order, where the diagram goes`);
    process.exitCode = 1;
  } else {
    const updated = `${readme.slice(0, start + START.length)}\n${fenced}\n${readme.slice(end)}`;
    if (updated === readme) {
      console.log('diagram: README.md is up to date');
    } else {
      writeFileSync(readmePath, updated);
      console.log('diagram: README.md updated');
    }
  }
}
