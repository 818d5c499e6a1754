/**
 * The bench server child (see bench/server.ts). `npm run bench` bundles this
 * file with esbuild (bench/.build/) and forks it with plain `node`, so a
 * restart takes about 150 ms: the reconnect scenarios restart it 20 times.
 */
import { fail } from '../bench/lib/ipc.js';
import { runBenchServer } from '../bench/server.js';

await runBenchServer(process.argv.slice(2)).catch(fail);
