#!/usr/bin/env node
/**
 * `npm run inspect`: the offline inspector. Starts the relay on 127.0.0.1,
 * prints where to point inspectors and where to look, and runs until Ctrl-C.
 *
 *   npm run inspect                      page on http://127.0.0.1:8090/
 *   npm run inspect -- --port 0          any free port
 *   npm run inspect -- --replay 5000     replay more history to late pages
 *
 * Then, in another terminal: `npm run client -- --url ws://127.0.0.1:8080 --inspect`.
 * Exit codes: 0 stopped by a signal; 1 the relay could not start (port taken);
 * 2 bad flags. Never process.exit(): everything is closed and Node exits by itself.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_INSPECTOR_SERVER_OPTIONS, startInspectorServer } from '../src/inspect/relay-server.js';

const USAGE = `usage: statesocket-inspect [--port PORT] [--replay N]   (in the repository: npm run inspect -- ...)

  --port PORT   port on 127.0.0.1 (0 = any free port)          [${DEFAULT_INSPECTOR_SERVER_OPTIONS.port}]
  --replay N    events and snapshots replayed to a page opened late, besides
                every machine's definition and latest state       [${DEFAULT_INSPECTOR_SERVER_OPTIONS.replayLimit}]
  -h, --help    this text

The relay listens on 127.0.0.1 only.`;

function wholeNumber(flag: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new Error(`--${flag} must be a whole number from 0 to ${max}; received ${JSON.stringify(text)}`);
  }
  return value;
}

async function main(argv: readonly string[]): Promise<number> {
  let port: number;
  let replayLimit: number;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { port: { type: 'string' }, replay: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    if (values.help === true) {
      console.log(USAGE);
      return 0;
    }
    port = wholeNumber('port', values.port, DEFAULT_INSPECTOR_SERVER_OPTIONS.port, 65_535);
    replayLimit = wholeNumber('replay', values.replay, DEFAULT_INSPECTOR_SERVER_OPTIONS.replayLimit, 1_000_000);
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }

  let relay: Awaited<ReturnType<typeof startInspectorServer>>;
  try {
    relay = await startInspectorServer({ port, replayLimit });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'EADDRINUSE' ? ` (is an inspector already running? try --port 0)` : '';
    console.error(`error: the inspector relay could not start on 127.0.0.1:${port}: ${(error as Error).message}${hint}`);
    return 1;
  }

  console.log(`inspector page:  ${relay.pageUrl}`);
  console.log(`inspector relay: ${relay.sourceUrl}   (give this to inspectors)`);
  console.log(`  statesocket-client --url ws://127.0.0.1:8080 --inspect${relay.port === 8090 ? '' : ` ${relay.sourceUrl}`}`);
  console.log('Ctrl-C to stop');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (received: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(received);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const stats = relay.stats();
  await relay.close();
  console.log(`stopping: ${signal} received · relayed ${stats.relayed} messages from ${stats.sources} source(s), dropped ${stats.rejected}`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
