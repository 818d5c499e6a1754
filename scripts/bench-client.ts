/**
 * A bench client child, forked by `npm run bench` (scripts/bench.ts) as
 * `node bench/.build/bench-client.mjs <role> <params JSON>` (this file bundled
 * with esbuild); never run by hand. Each role lives in bench/roles/ and
 * reports to the parent over IPC.
 */
import { fanoutRole } from '../bench/roles/fanout.js';
import { halfOpenRole } from '../bench/roles/half-open.js';
import { machineRole } from '../bench/roles/machine.js';
import { reconnectRole } from '../bench/roles/reconnect.js';
import { renderRole } from '../bench/roles/render.js';
import { slowConsumerRole } from '../bench/roles/slow-consumer.js';
import { stormRole } from '../bench/roles/storm.js';
import { throughputRole } from '../bench/roles/throughput.js';
import { attachToParent, fail } from '../bench/lib/ipc.js';

const ROLES: Record<string, (params: never) => Promise<never>> = {
  throughput: throughputRole,
  fanout: fanoutRole,
  reconnect: reconnectRole,
  storm: stormRole,
  'half-open': halfOpenRole,
  render: renderRole,
  machine: machineRole,
  'slow-consumer': slowConsumerRole,
};

attachToParent();
const [role = '', json = '{}'] = process.argv.slice(2);
const run = ROLES[role];
if (run === undefined) {
  await fail(new Error(`unknown bench role ${JSON.stringify(role)}; one of ${Object.keys(ROLES).join(', ')}`));
} else {
  await run(JSON.parse(json) as never).catch(fail);
}
