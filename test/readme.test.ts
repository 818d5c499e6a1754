import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AnyStateNode } from 'xstate';
import { connectionMachine } from '../machines/connection.js';
import { toMermaid } from '../src/inspect/mermaid.js';
import { ERROR_CODES } from '../src/errors.js';

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
});
