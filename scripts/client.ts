#!/usr/bin/env node
/**
 * `npm run client`: a scripted Node client. It connects to a statesocket sync
 * server (or, with `--protocol raw`, any JSON WebSocket server), shows the
 * connection in the terminal (or as NDJSON), optionally runs a scenario, and
 * exits with a code a CI job can judge.
 *
 *   npm run client -- --url ws://127.0.0.1:8080 --duration 10
 *   npm run client -- --url ws://127.0.0.1:8080 --script scripts/scenarios/happy-path.json
 *   npm run client -- --url ws://127.0.0.1:8080 --connections 200 --duration 30 --json
 *   npm run client -- --url ws://127.0.0.1:8080 --inspect     (with `npm run inspect` running)
 *
 * Exit codes: 0 ok; 1 a scenario step failed (or every connection gave up);
 * 2 bad flags or values. The process is never killed with process.exit():
 * everything is stopped and Node exits by itself.
 */
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { styleText } from 'node:util';
import type { Connection } from '../src/connection.js';
import { createConnection } from '../src/node.js';
import type { NodeConnectionOptions } from '../src/node.js';
import type { ScenarioProtocol, ScenarioResult, ScenarioStep } from './client/scenario.js';
import { describeStep, httpControl, parseScenario, runScenario } from './client/scenario.js';
import { createStore, type Store, type StoreData } from '../src/store.js';
import { rawProtocol } from '../src/protocol.js';
import { createChannelProtocol } from '../src/sync/client-protocol-v2.js';
import type { ConnectionStatus, StateName, View } from '../src/types.js';
import type { TerminalView } from './client/terminal-view.js';
import { aggregate, aggregateTerminal, terminalView } from './client/terminal-view.js';
import type { ClientArgs } from './client/args.js';
import { parseClientArgs } from './client/args.js';
import { startInspection, type Inspection } from './client/inspection.js';

// ── scenario files ────────────────────────────────────────────────────────

const MODULE_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

/**
 * Reads a scenario: `.json`, or a TS/JS module whose default export is the
 * steps. Every problem names the file and, where it is a step, `steps[i]`.
 */
export async function loadScenarioFile(
  path: string,
  protocol: ScenarioProtocol,
): Promise<{ ok: true; steps: ScenarioStep[] } | { ok: false; message: string }> {
  const extension = extname(path).toLowerCase();
  let value: unknown;
  if (extension === '.json') {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      return { ok: false, message: `${path}: cannot read the scenario: ${(error as Error).message}` };
    }
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { ok: false, message: `${path}: not valid JSON: ${(error as Error).message}` };
    }
  } else if (MODULE_EXTENSIONS.has(extension)) {
    let loaded: { default?: unknown };
    try {
      loaded = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
    } catch (error) {
      return { ok: false, message: `${path}: cannot load the scenario module: ${(error as Error).message}` };
    }
    if (loaded.default === undefined) {
      return { ok: false, message: `${path}: a scenario module must export the steps as default (export default [...])` };
    }
    value = loaded.default;
  } else {
    return {
      ok: false,
      message: `${path}: a scenario file must end in .json, .ts, .mts, .js or .mjs; received ${extension || 'no extension'}`,
    };
  }
  const parsed = parseScenario(value, { protocol });
  return parsed.ok ? parsed : { ok: false, message: `${path}: invalid scenario:\n${parsed.message}` };
}

// ── output ────────────────────────────────────────────────────────────────

type Emit = (record: Record<string, unknown>) => void;

/** A View that prints one NDJSON `render` line per render. */
function jsonRenderView(emit: Emit, model: Store): View<StoreData> {
  return {
    render(data) {
      emit({ type: 'render', seq: model.position()?.seq ?? null, keys: Object.keys(data).length });
    },
  };
}

/** The error to show with a state: only where it explains the state. */
function errorFor(status: ConnectionStatus): ConnectionStatus['lastError'] {
  return status.state === 'errored' || status.state === 'closed' ? status.lastError : null;
}

function urlWithToken(url: string, args: ClientArgs): string {
  if (args.protocol !== 'raw' || args.token === undefined) return url;
  const withToken = new URL(url);
  withToken.searchParams.set('token', args.token);
  return withToken.toString();
}

// ── running ───────────────────────────────────────────────────────────────

type Ending = { reason: 'duration' | 'signal' | 'scenario' | 'closed'; detail: string };

interface Client {
  connection: Connection;
  model: Store;
  lastState: StateName;
  lastRejected: number;
}

export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseClientArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.usage}\n`);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`error: ${parsed.message}\n\n${parsed.usage}\n`);
    return parsed.exitCode;
  }
  const args = parsed.args;

  let steps: ScenarioStep[] | null = null;
  if (args.script !== undefined) {
    const loaded = await loadScenarioFile(args.script, args.protocol);
    if (!loaded.ok) {
      process.stderr.write(`error: ${loaded.message}\n`);
      return 2;
    }
    steps = loaded.steps;
  }

  const startedAt = Date.now();
  const elapsed = () => Date.now() - startedAt;
  const many = args.connections > 1;
  const emit: Emit = (record) => process.stdout.write(`${JSON.stringify({ t: elapsed(), ...record })}\n`);
  const live = !args.quiet;
  const tty = process.stdout.isTTY === true;
  const style = tty && !process.env.NO_COLOR ? styleText : undefined;

  let currentStep = '';
  const title = () => `statesocket client · ${args.url}${currentStep ? ` · ${currentStep}` : ''}`;
  let single: TerminalView<StoreData> | null = null;
  if (live && !args.json && !many) {
    single = terminalView<StoreData>({ title, ...(style ? { style } : {}), lastMessage: () => clients[0]?.model.lastMessage });
  }
  const multi = live && !args.json && many ? aggregateTerminal({ title, ...(style ? { style } : {}) }) : null;

  // ── inspection (one inspector for every connection of the run) ──
  let inspection: Inspection | null = null;
  if (args.inspect !== undefined) {
    try {
      inspection = await startInspection(args.inspect, (message) => process.stderr.write(`${message}\n`));
      // stderr: with --json, stdout carries only NDJSON.
      process.stderr.write(`${inspection.banner}\n`);
    } catch (error) {
      process.stderr.write(`client: ${(error as Error).message}; running without inspection\n`);
    }
  }

  // ── connections ──
  const clients: Client[] = [];
  try {
    for (let index = 0; index < args.connections; index++) {
      const model = createStore();
      const options: NodeConnectionOptions<Store, unknown> = {
        url: urlWithToken(args.url, args),
        model,
        // the sync protocol, version 2 (the default): the store is the connection's default channel
        protocol: args.protocol === 'statesocket' ? createChannelProtocol(args.token !== undefined ? { token: args.token } : {}) : rawProtocol,
        reconnect: args.reconnect,
        autoStart: false,
      };
      if (args.connectTimeoutMs !== undefined) options.connectTimeoutMs = args.connectTimeoutMs;
      if (args.heartbeat !== undefined) options.heartbeat = args.heartbeat;
      if (inspection !== null) options.inspect = inspection.inspector;
      if (single !== null) options.view = single;
      else if (args.json && live && !many) options.view = jsonRenderView(emit, model);
      const connection = createConnection(options);
      clients.push({ connection, model, lastState: connection.getStatus().state, lastRejected: 0 });
    }
  } catch (error) {
    // Option validation (TypeError/RangeError naming the option) is a bad value on the command line.
    for (const client of clients) client.connection.stop();
    await inspection?.stop();
    single?.close();
    multi?.close();
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 2;
  }

  const cleanups: Array<() => void> = [];
  let finish: (ending: Ending) => void = () => {};
  const ended = new Promise<Ending>((resolveEnding) => {
    let done = false;
    finish = (ending) => {
      if (done) return;
      done = true;
      resolveEnding(ending);
    };
  });

  const allClosed = () => clients.every((client) => client.connection.getStatus().state === 'closed');
  for (const [index, client] of clients.entries()) {
    const conn = many ? { conn: index } : {};
    const unsubscribe = client.connection.subscribe((status) => {
      const stateChanged = status.state !== client.lastState;
      if (args.json && live) {
        if (stateChanged) {
          emit({ type: 'state', ...conn, value: status.state, attempt: status.attempt, error: errorFor(status) });
        }
        if (status.counters.rejected > client.lastRejected) {
          emit({
            type: 'rejected',
            ...conn,
            code: status.lastRejected?.code ?? null,
            message: status.lastRejected?.message ?? null,
          });
        }
      }
      client.lastState = status.state;
      client.lastRejected = status.counters.rejected;
      // Data changes reach the view through its (coalesced) renders; a state change shows at once.
      if (stateChanged) single?.refresh(status);
      // Without a scenario nothing can reopen a closed connection: when all have given up, end.
      if (steps === null && status.state === 'closed' && allClosed()) {
        finish({ reason: 'closed', detail: 'every connection is closed' });
      }
    });
    cleanups.push(unsubscribe);
  }

  // ── timers and signals ──
  if (args.durationS !== undefined) {
    const seconds = args.durationS;
    const timer = setTimeout(() => finish({ reason: 'duration', detail: `${seconds} s elapsed` }), seconds * 1000);
    cleanups.push(() => clearTimeout(timer));
  }
  const onSignal = (signal: NodeJS.Signals) => finish({ reason: 'signal', detail: `${signal} received` });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  cleanups.push(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  if (single !== null && tty) {
    // The countdown moves without any event: redraw on a beat (the frame is only written when it changed).
    const beat = setInterval(() => single?.refresh(), 100);
    const onResize = () => single?.refresh();
    process.stdout.on('resize', onResize);
    cleanups.push(() => {
      clearInterval(beat);
      process.stdout.off('resize', onResize);
    });
  }
  if (multi !== null) {
    const statuses = () => clients.map((client) => client.connection.getStatus());
    const beat = setInterval(() => multi.update(statuses()), tty ? 200 : 1000);
    cleanups.push(() => {
      clearInterval(beat);
      multi.update(statuses());
    });
  }

  for (const client of clients) client.connection.start();
  if (multi !== null) multi.update(clients.map((client) => client.connection.getStatus()));

  // ── the scenario ──
  const abort = new AbortController();
  let results: Promise<ScenarioResult[]> | null = null;
  if (steps !== null) {
    const scenario = steps;
    const control = httpControl(args.url, args.controlToken !== undefined ? { token: args.controlToken } : {});
    results = Promise.all(
      clients.map((client, index) =>
        runScenario(client.connection, scenario, {
          control,
          protocol: args.protocol,
          signal: abort.signal,
          onStep: (stepIndex, step) => {
            if (index !== 0) return;
            currentStep = `step ${stepIndex + 1}/${scenario.length}: ${describeStep(step)}`;
            if (!live) return;
            if (args.json) emit({ type: 'step', index: stepIndex, step: describeStep(step) });
            else if (single !== null && tty) single.refresh();
            else process.stdout.write(`steps[${stepIndex}] ${describeStep(step)}\n`);
          },
        }),
      ),
    );
    void results.then(() => finish({ reason: 'scenario', detail: 'the scenario ended' }));
  }

  const ending = await ended;
  abort.abort(ending.reason === 'duration' ? `--duration ${args.durationS} s elapsed` : ending.detail);
  const outcomes = results === null ? null : await results;
  for (const cleanup of cleanups.reverse()) cleanup();
  for (const client of clients) client.connection.stop();
  await inspection?.stop();
  single?.close();
  multi?.close();

  // ── the verdict ──
  const failure = outcomes
    ?.map((result, index) => (result.ok ? null : `${many ? `connection ${index}: ` : ''}${result.message}`))
    .find((message) => message !== null);
  const gaveUp =
    ending.reason === 'closed'
      ? clients.find((client) => client.connection.getStatus().lastError !== null)?.connection.getStatus().lastError ?? null
      : null;
  const exitCode = failure != null || gaveUp !== null ? 1 : 0;

  const statuses = clients.map((client) => client.connection.getStatus());
  const totals = aggregate(statuses);
  const histories = clients.map((client) => client.connection.history.map((entry) => entry.state));
  const scenarioSummary =
    outcomes === null ? undefined : failure == null ? { ok: true } : { ok: false, message: failure };

  if (args.json) {
    const summary: Record<string, unknown> = {
      type: 'summary',
      received: totals.received,
      rejected: totals.rejected,
      reconnects: totals.reconnects,
      renders: totals.renders,
      sent: totals.sent,
      dropped: totals.dropped,
      history: many ? histories : (histories[0] ?? []),
      reason: ending.reason,
      exitCode,
    };
    if (many) {
      summary.connections = totals.connections;
      summary.byState = totals.byState;
    }
    if (scenarioSummary !== undefined) summary.scenario = scenarioSummary;
    if (gaveUp !== null) summary.error = gaveUp;
    emit(summary);
  } else if (live) {
    const history = many ? `${totals.connections} connections` : (histories[0] ?? []).join(' → ');
    process.stdout.write(
      `summary: ${history} · received ${totals.received}, rejected ${totals.rejected}, sent ${totals.sent}, ` +
        `renders ${totals.renders}, reconnects ${totals.reconnects}, dropped ${totals.dropped} · ${ending.detail}\n`,
    );
    if (outcomes !== null && failure == null) process.stdout.write(`scenario passed: ${steps?.length ?? 0} steps held\n`);
  }
  if (failure != null) process.stderr.write(`scenario failed: ${failure}\n`);
  if (gaveUp !== null) {
    const close = gaveUp.closeCode !== undefined ? ` (close ${gaveUp.closeCode})` : '';
    process.stderr.write(`gave up: ${gaveUp.code}${close}${gaveUp.message ? `: ${gaveUp.message}` : ''}\n`);
  }
  return exitCode;
}

// Run only as a program (tests import loadScenarioFile without starting a client).
// realpath: run as a bin, argv[1] is the symlink in node_modules/.bin.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(resolve(process.argv[1]))).href) {
  process.exitCode = await main(process.argv.slice(2));
}
