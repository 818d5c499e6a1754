/**
 * `npm start`: the reference sync server with a live feed, and a client with
 * the terminal view, both on 127.0.0.1. Every few seconds the demo injects a
 * fault through the server's control endpoint (a drop, a stall that only the
 * heartbeat notices, a 1012 service restart) so you can watch the machine go
 * open → errored → connecting → open with the model still matching the server.
 * The server also serves the browser app: open the printed `app:` URL to watch
 * the same faults in the browser.
 *
 *   npm start                      run until Ctrl-C
 *   npm start -- --duration 30     run for 30 s, then print a summary and exit
 *   npm start -- --inspect [URL]   stream the machine to `npm run inspect` (or URL) instead
 *
 * The demo also serves the inspector page by default (a relay inside this
 * process on a free port of 127.0.0.1; the page is built when first opened):
 * open the printed `inspector:` URL to watch the statechart live. That costs a
 * listening socket and one JSON message per event (nothing at the default feed
 * rate); `--no-inspect` turns it off.
 */
import { parseArgs, styleText } from 'node:util';
import type { Connection } from '../src/connection.js';
import { createConnection } from '../src/node.js';
import { loadAppFiles, type AppBundle } from '../src/server/static-files.js';
import { startSyncServer, type RunningServer } from '../src/server/start.js';
import { takeInspectFlag, type InspectTarget } from './client/args.js';
import { startInspection, startLocalInspection, type Inspection } from './client/inspection.js';
import type { StoreData } from '../src/store.js';
import { createSyncProtocol } from '../src/sync/client-protocol.js';
import type { RenderScheduler } from '../src/types.js';
import { terminalView, type TerminalView } from './client/terminal-view.js';
import { summaryLine, untilCaughtUp } from './demo/summary.js';

const USAGE =
  'usage: npm start -- [--duration SECONDS] [--feed-rate N] [--fault-every SECONDS] [--inspect [URL|stately] | --no-inspect]\n' +
  '  duration 0 = until Ctrl-C; by default the demo serves its own inspector page (printed as inspector:);\n' +
  '  --inspect streams to `npm run inspect` instead (or to URL, or to Stately\'s hosted inspector)';

interface DemoFlags {
  durationS: number;
  feedRate: number;
  faultEveryS: number;
  /** `local`: a relay in this process (the default); `off`: --no-inspect. */
  inspect: InspectTarget | 'local' | 'off';
}

function readFlags(): DemoFlags | null {
  try {
    const taken = takeInspectFlag(process.argv.slice(2), (flag) => ['duration', 'feed-rate', 'fault-every'].includes(flag));
    const { values } = parseArgs({
      args: taken.rest,
      options: {
        duration: { type: 'string', short: 'd', default: '0' },
        'feed-rate': { type: 'string', default: '10' },
        'fault-every': { type: 'string', default: '3' },
        'no-inspect': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values['no-inspect'] === true && taken.inspect !== undefined) throw new Error('--inspect and --no-inspect contradict each other');
    if (values.help) {
      console.log(USAGE);
      return null;
    }
    const number = (name: string, text: string | undefined, min: number) => {
      const value = Number(text);
      if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number >= ${min}; received ${JSON.stringify(text)}`);
      return value;
    };
    return {
      durationS: number('duration', values.duration, 0),
      feedRate: number('feed-rate', values['feed-rate'], 0),
      faultEveryS: number('fault-every', values['fault-every'], 0.5),
      inspect: taken.inspect ?? (values['no-inspect'] === true ? 'off' : 'local'),
    };
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return null;
  }
}

/** The faults the demo cycles through, with what a newcomer should watch for. */
const FAULTS = [
  { action: 'drop', says: 'drop: the server cuts the TCP connection without a close frame (1006)' },
  { action: 'stall?ms=2500', says: 'stall: a half-open link; only the heartbeat can tell (ERR_HEARTBEAT_TIMEOUT)' },
  { action: 'close?code=1012&reason=deploy', says: 'close 1012: a service restart; the retry waits at least serviceRestartDelayMs' },
] as const;

/** Posts faults to the server's control endpoint in turn; returns a function that stops. */
function injectFaults(server: RunningServer, everyMs: number, announce: (line: string) => void): () => void {
  let next = 0;
  const timer = setInterval(() => {
    const fault = FAULTS[next++ % FAULTS.length] as (typeof FAULTS)[number];
    announce(fault.says);
    fetch(`http://127.0.0.1:${server.port}/control/${fault.action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.controlToken}` },
    }).then(
      (response) => {
        if (!response.ok) announce(`fault injection failed: ${fault.action} answered ${response.status}`);
        return response.body?.cancel();
      },
      (error: unknown) => announce(`fault injection failed: ${(error as Error).message}`),
    );
  }, everyMs);
  return () => clearInterval(timer);
}

/** Longest wait at the end for the client to apply the server's last changes before the summary. */
const CATCH_UP_MS = 5_000;

/** In a terminal, render once per event-loop turn: a short `errored` wait should still show. */
const renderEachTurn: RenderScheduler = (flush) => {
  const id = setImmediate(flush);
  return () => clearImmediate(id);
};

/** The demo's inspector: its own relay by default, or what --inspect names; never fatal. */
async function startDemoInspection(target: DemoFlags['inspect']): Promise<Inspection | null> {
  const warn = (message: string) => console.error(message);
  if (target === 'off') return null;
  try {
    return target === 'local' ? await startLocalInspection(warn) : await startInspection(target, warn);
  } catch (error) {
    console.error(`demo: the inspector did not start (${(error as Error).message}); the demo runs without it`);
    return null;
  }
}

function connectClient(server: RunningServer, view: TerminalView<StoreData>, inspection: Inspection | null): Connection {
  const connection = createConnection({
    ...(inspection === null ? {} : { inspect: inspection.inspector }),
    url: server.url,
    protocol: createSyncProtocol(),
    view,
    schedule: renderEachTurn,
    heartbeat: { intervalMs: 1_000, timeoutMs: 1_000 },
    reconnect: { initialDelayMs: 200, maxDelayMs: 2_000, serviceRestartDelayMs: 1_000 },
  });
  connection.subscribe((status) => view.refresh(status));
  return connection;
}

/** Resolves after `seconds` (never when 0) or on SIGINT/SIGTERM; leaves no timer or listener behind. */
function untilDoneOrSignalled(seconds: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = seconds > 0 ? setTimeout(() => finish(`${seconds} s elapsed`), seconds * 1000) : undefined;
    const onSignal = (signal: NodeJS.Signals) => finish(`${signal} received`);
    function finish(reason: string): void {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(reason);
    }
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

async function main(): Promise<void> {
  const flags = readFlags();
  if (flags === null) return;
  let app: AppBundle | undefined;
  try {
    app = loadAppFiles();
  } catch (error) {
    console.error(`demo: the browser app is not served (${(error as Error).message})`);
  }
  const server = await startSyncServer({
    control: true,
    host: '127.0.0.1',
    port: 0,
    feedRatePerSec: flags.feedRate,
    heartbeatMs: 0,
    ...(app === undefined ? {} : { staticHandler: app.staticHandler }),
  });
  const tty = process.stdout.isTTY === true;
  const notes: string[] = [];
  const announce = (line: string) => {
    if (tty) notes.splice(0, notes.length, line);
    else console.log(`demo: ${line}`);
  };
  console.log(`server: ${server.url} (control: http://127.0.0.1:${server.port}/control/state)`);
  console.log(`control token: ${server.controlToken}`);
  if (app !== undefined) console.log(`app: http://127.0.0.1:${server.port}/`);
  const inspection = await startDemoInspection(flags.inspect);
  if (inspection !== null) console.log(inspection.banner);
  console.log(flags.durationS > 0 ? `running ${flags.durationS} s` : 'Ctrl-C to stop');
  const view = terminalView<StoreData>({
    style: styleText,
    title: () => `statesocket demo · ${server.url} · ${notes[0] ?? 'faults every few seconds'}`,
  });
  const connection = connectClient(server, view, inspection);
  const stopFaults = injectFaults(server, flags.faultEveryS * 1000, announce);
  const reason = await untilDoneOrSignalled(flags.durationS);

  stopFaults();
  // Freeze the data, let the client apply what is in flight (or reconnect after the last fault),
  // then stop it: the summary compares both at the same seq.
  server.stopFeed();
  await untilCaughtUp(connection, server, CATCH_UP_MS);
  connection.stop();
  await inspection?.stop();
  view.close();
  console.log(`stopping: ${reason}`);
  console.log(summaryLine(connection, server));
  await server.close();
}

await main();
