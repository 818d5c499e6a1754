/**
 * The conformance fixtures (docs/protocol-fixtures/) from the client's side: the server's answers
 * a scenario expects are scripted into a real connection through the fake socket, the scenario's
 * client frames are produced by the public API (`connection.channel()`, `send()`, a token
 * function), and what the client writes must be the frames the scenario sends, in order.
 *
 * Scenarios whose client does what no client built on this API does (invalid frames, a resend
 * of an op whose ack arrived, a second client) are listed as such; the server's replay of every
 * scenario checks the other side.
 */
import { describe, expect, it } from 'vitest';
import type { Channel } from '../../src/channel.js';
import { createChannelProtocol } from '../../src/sync/client-protocol-v2.js';
import { createTestConnection, type FakeWebSocket } from '../../src/testing/index.js';
import { matchPattern, placeholderOf, readScenarios, substitute, type Scenario, type Step } from '../support/protocol-fixtures.js';

/** Scenarios whose client acts in a way this API never does, and why. */
const NOT_A_CLIENT_OF_THIS_API: Record<string, string> = {
  'client-forgotten': 'its client resends an op under a time it chose',
  'client-replaced': 'two connections share one client id on purpose',
  'invalid-frames': 'its client sends invalid frames',
  'op-duplicate': 'its client acts as if an ack it received were lost',
  'op-refused-resent': 'its client resends a refused op, corrected',
  'token-expiry': 'its client keeps silent until the expiry',
  'token-url-wins': 'its client puts tokens in the URL and the hello at once',
  'v1-client-default': 'it mixes a version 1 client in',
  'presence-grace': 'it needs two clients on one channel, and a drop of the other',
  'resume-synced': 'its client resubscribes a held channel on purpose',
  'changes-paging': 'its client picks its refs and epochs, and asks about a channel it does not hold',
};

/** Numbers the server chooses, by field: a variable bound from an expectation gets a value of the right kind. */
const NUMERIC = new Set(['time', 'seq', 'since', 'joinedAt', 'expiresAt', 'expiresInMs', 'n', 'mark', 'ref', 'retryAfterMs', 're']);

/** A frame the server sends, made from a pattern: variables bound (or bound now), type placeholders given a sample. */
function instantiate(pattern: unknown, bindings: Map<string, unknown>, key = ''): unknown {
  const placeholder = placeholderOf(pattern);
  if (placeholder?.kind === 'type') return { any: null, string: 'sample', bool: false, int: 1_000 + bindings.size, number: 1.5 }[placeholder.type];
  if (placeholder?.kind === 'variable') {
    if (!bindings.has(placeholder.name)) bindings.set(placeholder.name, NUMERIC.has(key) ? 5_000 + bindings.size : `${placeholder.name}-${bindings.size}`);
    return bindings.get(placeholder.name);
  }
  if (typeof pattern === 'string') return pattern.startsWith('$$') ? pattern.slice(1) : pattern;
  if (Array.isArray(pattern)) return pattern.map((item) => instantiate(item, bindings, key));
  if (typeof pattern === 'object' && pattern !== null) {
    return Object.fromEntries(Object.entries(pattern).map(([field, value]) => [field, instantiate(value, bindings, field)]));
  }
  return pattern;
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Plays client `a` of a scenario against a real connection; throws at the first frame that differs. */
async function playClient(scenario: Scenario): Promise<void> {
  const steps = scenario.steps.filter((step): step is Step & { client: string } => 'client' in step && step.client === 'a');
  const hello = steps.map((step) => ('send' in step ? (step.send as Record<string, unknown>) : undefined)).find((frame) => frame?.type === 'hello');
  if (hello === undefined) throw new Error('no hello');
  // the tokens the client presents, in order: the hello's, then each auth's
  const tokens = steps.flatMap((step) => ('send' in step && (step.send as { token?: unknown }).token !== undefined ? [(step.send as { token: string }).token] : []));
  let tokenCalls = 0;
  const maxMessageBytes = (hello.maxMessageBytes as number | undefined) ?? 1_048_576;
  const t = createTestConnection({
    protocol: createChannelProtocol({
      clientId: hello.client as string,
      defaultChannel: false,
      ...(tokens.length > 0 ? { token: () => tokens[Math.min(tokenCalls++, tokens.length - 1)] as string } : {}),
    }),
    maxMessageBytes,
    random: () => 0,
  });
  const bindings = new Map<string, unknown>();
  const handles = new Map<string, Channel>();
  const syncedChannels = new Set<string>();
  const pendingAnswers: Promise<unknown>[] = [];
  let socket: FakeWebSocket | null = null;
  let read = 0;
  let chunkId = 0;
  const nextWritten = () => {
    const frames = socket?.sentMessages() ?? [];
    if (read >= frames.length) throw new Error('the client wrote nothing where the scenario sends a frame');
    return frames[read++] as Record<string, unknown>;
  };
  try {
    for (const step of steps) {
      if ('connect' in step) {
        if (tokens.length > 0) await flush();
        if (socket !== null) {
          for (let i = 0; i < 10 && t.sockets.latest === socket; i++) {
            t.advance(Math.max(1, (t.connection.getStatus().nextRetryAt ?? t.clock.now()) - t.clock.now()));
            if (tokens.length > 0) await flush();
          }
        }
        socket = t.open();
        read = 0;
      } else if ('send' in step) {
        const frame = substitute(step.send, (name) => bindings.get(name)) as Record<string, unknown>;
        const channel = frame.channel as string;
        switch (frame.type) {
          case 'subscribe':
            if (!handles.has(channel)) handles.set(channel, t.connection.channel(channel, { presence: frame.presence === true }));
            break;
          case 'op': {
            const op: { set?: Record<string, never>; delete?: string[] } = {};
            if (frame.set !== undefined) op.set = frame.set as Record<string, never>;
            if (frame.delete !== undefined) op.delete = frame.delete as string[];
            if (frame.re === undefined) pendingAnswers.push(handles.get(channel)!.send(op).catch(() => undefined));
            // The client id is the scenario's, so the client cannot know the server has no mark for it:
            // an op of a channel not synced yet waits for the mark (docs/protocol.md, "Marks and
            // duplicates"); where the scenario writes it earlier, this client writes it later or never.
            if (!syncedChannels.has(channel)) continue;
            break;
          }
          case 'unsubscribe':
            handles.get(channel)!.unsubscribe();
            break;
          case 'changes': {
            const request: { since?: number; limit: number } = { limit: frame.limit as number };
            if (frame.since !== undefined) request.since = frame.since as number;
            pendingAnswers.push(handles.get(channel)!.changes(request).catch(() => undefined));
            break;
          }
          case 'auth':
            await flush();
            break;
        }
        const written = { ...nextWritten() };
        // the client's own choice where the scenario's client leaves it to the default
        if (written.type === 'hello' && hello.maxMessageBytes === undefined) delete written.maxMessageBytes;
        const problem = matchPattern(step.send, written, bindings);
        if (problem !== null) throw new Error(`${JSON.stringify(step.send)}: the client wrote ${JSON.stringify(written)} (${problem})`);
      } else if ('expect' in step) {
        const frame = instantiate(step.expect, bindings) as { type?: unknown; channel?: unknown };
        if (frame.type === 'synced' && typeof frame.channel === 'string') syncedChannels.add(frame.channel);
        socket!.receive(frame);
      } else if ('expectChunked' in step) {
        const text = JSON.stringify(instantiate(step.expectChunked, bindings));
        const channel = (step.expectChunked as { channel: string }).channel;
        const size = maxMessageBytes - 200;
        const count = Math.ceil(text.length / size);
        const id = chunkId++;
        for (let i = 0; i < count; i++) socket!.receive({ type: 'chunk', id, channel, i, count, bytes: text.length, data: text.slice(i * size, (i + 1) * size) });
      } else if ('expectClose' in step) {
        if (step.expectClose.code === 1006) socket!.drop();
        else socket!.serverClose(step.expectClose.code);
      } else if ('drop' in step) {
        socket!.drop();
      }
    }
    const extra = (socket?.sentMessages() ?? []).slice(read);
    if (extra.length > 0) throw new Error(`the client wrote frames the scenario does not send: ${JSON.stringify(extra)}`);
    expect(t.connection.getStatus().lastRejected, 'a frame the client refused').toBeNull();
    await Promise.all(pendingAnswers);
  } finally {
    t.connection.stop();
  }
}

describe('conformance fixtures, from the client\'s side', () => {
  const scenarios = readScenarios().filter(({ scenario }) => !(scenario.name in NOT_A_CLIENT_OF_THIS_API));

  it('leaves out only scenarios whose client this API cannot be, each with its reason', () => {
    const names = readScenarios().map(({ scenario }) => scenario.name);
    for (const name of Object.keys(NOT_A_CLIENT_OF_THIS_API)) expect(names).toContain(name);
    expect(scenarios.length).toBeGreaterThanOrEqual(7);
  });

  it.each(scenarios.map(({ scenario }) => [scenario.name, scenario] as const))('plays %s', async (_name, scenario) => {
    await playClient(scenario);
  });
});
