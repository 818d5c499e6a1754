/**
 * `npm start`: the reference sync server and a client with a terminal view, both on 127.0.0.1,
 * over one connection holding three channels (protocol version 2, `createChannelProtocol()`):
 * `prices` (the server's live feed), `notes` (shared key/values with presence: who is here) and
 * `admin/audit` (refused to everyone: it fails with ERR_CHANNEL_FORBIDDEN while the others stay
 * live). The server's set-up is scripts/demo/server-config.ts. Every few seconds the demo injects
 * a fault through the server's control endpoint (a drop, a stall that only the heartbeat notices,
 * a 1012 service restart) and writes a note about it, so you can watch the machine go
 * open → errored → connecting → open with each channel resuming and its model still matching the
 * server's. The server also serves the browser app: open the printed `app:` URL (twice, to see two
 * members) to watch the same channels and faults in the browser, and the printed `react:` URL for
 * the same app in React (app/react/).
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
import type { Channel } from '../src/channel.js';
import type { Connection } from '../src/connection.js';
import { createChannelProtocol, createConnection } from '../src/node.js';
import { loadBuiltApps, REACT_APP_BASE, type AppBundle } from '../src/server/static-files.js';
import { startSyncServer, type RunningServer } from '../src/server/start.js';
import type { RenderScheduler } from '../src/types.js';
import { takeInspectFlag, type InspectTarget } from './client/args.js';
import { startInspection, startLocalInspection, type Inspection } from './client/inspection.js';
import { demoView, type ChannelBlock, type DemoView } from './demo/channels-view.js';
import { DEMO_CHANNELS, FIRST_NOTES, demoServerOptions } from './demo/server-config.js';
import { channelsLine, summaryLine, untilCaughtUp } from './demo/summary.js';

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
  { name: 'drop', action: 'drop', says: 'drop: the server cuts the TCP connection without a close frame (1006)' },
  { name: 'stall', action: 'stall?ms=2500', says: 'stall: a half-open link; only the heartbeat can tell (ERR_HEARTBEAT_TIMEOUT)' },
  { name: 'close 1012', action: 'close?code=1012&reason=deploy', says: 'close 1012: a service restart; the retry waits at least serviceRestartDelayMs' },
] as const;

type Fault = (typeof FAULTS)[number];

/** Posts faults to the server's control endpoint in turn; returns a function that stops. */
function injectFaults(server: RunningServer, everyMs: number, announce: (line: string) => void, injected: (fault: Fault) => void): () => void {
  let next = 0;
  const timer = setInterval(() => {
    const fault = FAULTS[next++ % FAULTS.length] as Fault;
    announce(fault.says);
    injected(fault);
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

/** The terminal client's channels: what it shows and what the summary compares. */
interface DemoChannels {
  prices: Channel;
  notes: Channel;
  forbidden: Channel;
}

/** The terminal client: one connection, three channels, every change redrawn once per event-loop turn. */
function connectClient(server: RunningServer, view: DemoView, inspection: Inspection | null): { connection: Connection; channels: DemoChannels } {
  let pending: NodeJS.Immediate | undefined;
  const redraw = () => {
    pending ??= setImmediate(() => {
      pending = undefined;
      view.update(connection.getStatus(), blocks());
    });
  };
  const connection = createConnection({
    ...(inspection === null ? {} : { inspect: inspection.inspector }),
    url: server.url,
    // The demo server's token is the member's name (scripts/demo/server-config.ts).
    protocol: createChannelProtocol({ token: 'terminal', defaultChannel: false }),
    view: { render: redraw },
    schedule: renderEachTurn,
    heartbeat: { intervalMs: 1_000, timeoutMs: 1_000 },
    reconnect: { initialDelayMs: 200, maxDelayMs: 2_000, serviceRestartDelayMs: 1_000 },
  });
  const channels: DemoChannels = {
    prices: connection.channel(DEMO_CHANNELS.prices, { view: { render: redraw } }),
    notes: connection.channel(DEMO_CHANNELS.notes, { view: { render: redraw }, presence: { view: { render: redraw } } }),
    forbidden: connection.channel(DEMO_CHANNELS.forbidden, { view: { render: redraw } }),
  };
  const blocks = (): ChannelBlock[] =>
    Object.values(channels).map((channel: Channel) => ({
      status: channel.getStatus(),
      data: channel.model.getData(),
      members: channel.presence?.getData(),
    }));
  connection.subscribe(redraw);
  for (const channel of Object.values(channels)) channel.subscribe(redraw);
  return { connection, channels };
}

/** A note about the fault, sent on `notes` (acked exactly once, even when sent while the connection is down). */
function noteFault(notes: Channel, fault: Fault): void {
  try {
    void notes.send({ set: { 'last-fault': `${fault.name} at ${new Date().toISOString().slice(11, 19)}` } });
  } catch {
    // the channel ended or the outbox is full: the demo goes on without the note
  }
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
  const app: AppBundle | undefined = loadBuiltApps((message) => console.error(`demo: ${message}`));
  const server = await startSyncServer({
    ...demoServerOptions(flags.feedRate),
    ...(app === undefined ? {} : { staticHandler: app.staticHandler }),
  });
  server.change({ set: { ...FIRST_NOTES } }, DEMO_CHANNELS.notes);
  const tty = process.stdout.isTTY === true;
  const notes: string[] = [];
  const announce = (line: string) => {
    if (tty) notes.splice(0, notes.length, line);
    else console.log(`demo: ${line}`);
  };
  console.log(`server: ${server.url} (control: http://127.0.0.1:${server.port}/control/state?channel=${DEMO_CHANNELS.prices})`);
  console.log(`control token: ${server.controlToken}`);
  const inspection = await startDemoInspection(flags.inspect);
  if (app?.files.has('/') === true) {
    console.log(`app: http://127.0.0.1:${server.port}/ (open it twice: each page is a member of notes; ?name=ann picks a name)`);
    const relay = inspection === null ? null : relayOf(inspection.pageUrl);
    if (relay !== null) console.log(`app, inspected: http://127.0.0.1:${server.port}/?inspect=${encodeURIComponent(relay)}`);
  }
  if (app?.files.has(REACT_APP_BASE) === true) console.log(`react: http://127.0.0.1:${server.port}${REACT_APP_BASE} (the same app in React: app/react/)`);
  if (inspection !== null) console.log(inspection.banner);
  console.log(
    `channels: ${DEMO_CHANNELS.prices} (the feed), ${DEMO_CHANNELS.notes} (shared, with presence), ${DEMO_CHANNELS.forbidden} (forbidden: ERR_CHANNEL_FORBIDDEN)`,
  );
  console.log(flags.durationS > 0 ? `running ${flags.durationS} s` : 'Ctrl-C to stop');
  const view = demoView({
    style: styleText,
    title: () => `statesocket demo · ${server.url} · ${notes[0] ?? 'faults every few seconds'}`,
  });
  const { connection, channels } = connectClient(server, view, inspection);
  const stopFaults = injectFaults(server, flags.faultEveryS * 1000, announce, (fault) => noteFault(channels.notes, fault));
  const reason = await untilDoneOrSignalled(flags.durationS);

  stopFaults();
  // Freeze the data, let the client apply what is in flight (or reconnect after the last fault),
  // then stop it: the summary compares each channel with the server's at the same seq.
  server.stopFeed();
  const compared = [channels.prices, channels.notes];
  await untilCaughtUp(compared, server, CATCH_UP_MS);
  const last = channelsLine(Object.values(channels).map((channel) => ({ status: channel.getStatus(), members: channel.presence?.getData() })));
  connection.stop();
  await inspection?.stop();
  view.close();
  console.log(`stopping: ${reason}`);
  console.log(last);
  console.log(summaryLine(connection, compared, server));
  await server.close();
}

/** The relay's source URL (`ws://host:port/inspect`) from its page's URL, for the app's `?inspect=`; null for Stately's. */
function relayOf(pageUrl: string): string | null {
  const url = new URL(pageUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) return null;
  return `${url.protocol === 'https:' ? 'wss' : 'ws'}://${url.host}/inspect`;
}

await main();
