import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import type { AnyStateNode } from 'xstate';
import { connectionMachine } from '../machines/connection.js';
import { toMermaid } from '../src/inspect/mermaid.js';
import { ERROR_CODES } from '../src/errors.js';
import { DEFAULT_OPTIONS } from '../src/options.js';
import { sampleMachine } from './support/chart-reference.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const START = '<!-- statechart:start -->';
const END = '<!-- statechart:end -->';

/** The text between the statechart markers, without the newlines next to them. */
function statechartBlock(readme: string): string | null {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end < start) return null;
  return readme.slice(start + START.length, end).trim();
}

/** Every state node below the root, depth first. */
function descendants(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states).flatMap((child) => [child, ...descendants(child)]);
}

describe('README', () => {
  it('shows the statechart generated from connectionMachine', () => {
    const block = statechartBlock(README);
    expect(block, `README.md needs the markers ${START} and ${END}`).not.toBeNull();
    const expected = `\`\`\`mermaid\n${toMermaid(connectionMachine)}\`\`\``;
    expect(block, 'the statechart in README.md is out of date: run `npm run diagram -- --write`').toBe(expected);
  });

  it('documents every error code', () => {
    const missing = Object.keys(ERROR_CODES).filter((code) => !README.includes(`| \`${code}\` |`));
    expect(missing, 'add these codes to the error table in README.md').toEqual([]);
  });
});

/** The option names an interface of src/options.ts declares, with the interface each one's type names, if any. */
function optionInterfaces(): Map<string, Map<string, string | undefined>> {
  const file = new URL('../src/options.ts', import.meta.url);
  const source = ts.createSourceFile(file.pathname, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const interfaces = new Map<string, Map<string, string | undefined>>();
  for (const statement of source.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue;
    const members = new Map<string, string | undefined>();
    for (const member of statement.members) {
      if (!ts.isPropertySignature(member) || member.name === undefined) continue;
      const typeText = member.type?.getText(source) ?? '';
      members.set(member.name.getText(source), /\b([A-Z]\w*Options)\b/.exec(typeText)?.[1]);
    }
    interfaces.set(statement.name.text, members);
  }
  return interfaces;
}

/** The README's options table: option name → its default cell and its meaning cell. */
function optionsTable(readme: string): Map<string, { defaultCell: string; meaning: string }> {
  const section = readme.slice(readme.indexOf('### Options'), readme.indexOf('### Errors'));
  const rows = new Map<string, { defaultCell: string; meaning: string }>();
  for (const line of section.split('\n')) {
    const cells = /^\| `([\w.]+)` \| (.*?) \| (.*) \|$/.exec(line);
    if (cells) rows.set(cells[1] ?? '', { defaultCell: cells[2] ?? '', meaning: cells[3] ?? '' });
  }
  return rows;
}

describe('README options table', () => {
  const interfaces = optionInterfaces();
  const options = interfaces.get('ConnectionOptions');
  const table = optionsTable(README);

  it('has a row for every option of ConnectionOptions', () => {
    expect(options?.size).toBeGreaterThan(20);
    const missing = [...(options?.keys() ?? [])].filter((name) => !table.has(name));
    expect(missing, 'add these options to the options table in README.md').toEqual([]);
  });

  it('documents every field of the nested options, as a row or in the option\'s own row', () => {
    const missing: string[] = [];
    for (const [name, nested] of options ?? []) {
      if (nested === undefined) continue;
      for (const field of interfaces.get(nested)?.keys() ?? []) {
        const documented = table.has(`${name}.${field}`) || (table.get(name)?.meaning.includes(field) ?? false);
        if (!documented) missing.push(`${name}.${field}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('names no option that does not exist', () => {
    const unknown = [...table.keys()].filter((row) => {
      const [name = '', field] = row.split('.');
      const nested = options?.get(name);
      if (field === undefined) return !options?.has(name);
      return nested === undefined || !(interfaces.get(nested)?.has(field) ?? false);
    });
    expect(unknown).toEqual([]);
  });

  it('gives the defaults of DEFAULT_OPTIONS', () => {
    const defaults: Array<[string, unknown]> = [];
    for (const [name, value] of Object.entries(DEFAULT_OPTIONS)) {
      if (!(options?.has(name) ?? false)) continue; // drainCheckMs, heartbeatMessage: not options
      if (value !== null && typeof value === 'object') {
        for (const [field, inner] of Object.entries(value)) defaults.push([`${name}.${field}`, inner]);
      } else defaults.push([name, value]);
    }
    const wrong = defaults
      .filter(([, value]) => typeof value !== 'function')
      .filter(([name, value]) => {
        const expected = typeof value === 'string' ? `\`'${value}'\`` : `\`${String(value)}\``;
        return !(table.get(name)?.defaultCell.startsWith(expected) ?? false);
      })
      .map(([name, value]) => `${name}: ${String(value)}, the table says ${table.get(name)?.defaultCell ?? '(no row)'}`);
    expect(defaults.length).toBeGreaterThan(10);
    expect(wrong).toEqual([]);
  });
});

describe('toMermaid', () => {
  const diagram = toMermaid(connectionMachine);

  it('is a stateDiagram-v2 that starts in idle', () => {
    expect(diagram.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(diagram).toMatch(/^ {2}\[\*\] --> idle$/m);
  });

  it.each([
    'idle',
    'session',
    'connecting',
    'open',
    'stability',
    'heartbeat',
    'flow',
    'closing',
    'errored',
    'waiting',
    'offline',
    'closed',
  ])('declares the state %s', (key) => {
    expect(diagram).toMatch(new RegExp(`^\\s*(state )?("${key}" as \\w+|${key})( \\{)?$`, 'm'));
  });

  it('declares every state of the machine once, under an id unique in the diagram', () => {
    const nodes = descendants(connectionMachine.root);
    const ids = nodes.map((node) => node.path.join('_'));
    expect(new Set(ids).size).toBe(ids.length);
    for (const node of nodes) {
      const declarations = diagram
        .split('\n')
        .filter((line) => new RegExp(`^\\s*(state )?("${node.key}" as )?${node.path.join('_')}( \\{)?$`).test(line));
      expect(declarations, node.id).toHaveLength(1);
    }
  });

  it('separates the regions of open with --', () => {
    const open = diagram.slice(diagram.indexOf('as session_open {'));
    const regions = ['session_open_stability {', 'session_open_heartbeat {', 'session_open_flow {'];
    const positions = regions.map((region) => open.indexOf(region));
    expect(positions.every((position) => position > 0)).toBe(true);
    for (let i = 1; i < positions.length; i++) {
      expect(open.slice(positions[i - 1], positions[i])).toMatch(/\n\s*--\n/);
    }
  });

  it.each(['connectTimeout', 'reconnectDelay', 'heartbeatTimeout', 'closeTimeout'])(
    'labels the delayed transition %s',
    (delay) => {
      // on an arrow, or (heartbeatTimeout, which only raises heartbeat.checked) in the list of transitions without a change of state
      expect(diagram).toMatch(new RegExp(`:\\s(.*(<br/>|, ))?after ${delay}\\b`));
    },
  );

  it('names guards in labels and the fallback as else', () => {
    expect(diagram).toContain('socket.closed [not isReconnectableClose]');
    expect(diagram).toContain('failing --> errored : always [hasAttemptsLeft]');
    expect(diagram).toContain('failing --> closed : always [else]');
    expect(diagram).toContain('always [hasHeartbeat]');
  });

  it('leaves out stale-event guards', () => {
    expect(diagram).not.toContain('isStale');
  });

  it('lists transitions without a target in a comment instead of drawing them', () => {
    expect(diagram).toMatch(/^ {2}%% {3}session\.open: .*message\.received/m);
    expect(diagram).not.toMatch(/^[^%]*message\.received/m);
  });

  it('is the same text every time', () => {
    expect(toMermaid(connectionMachine)).toBe(diagram);
  });

  it('labels done and invoke transitions as the inspector page does, not with their xstate.* events', () => {
    const text = toMermaid(sampleMachine);
    expect(text).toContain('b --> c : done<br/>done: loader\n');
    expect(text).toContain('b --> b_two : error: loader\n');
    expect(text).not.toContain('xstate.');
  });
});
