/**
 * A bench client child, forked by `npm run bench` (scripts/bench.ts) as
 * `node bench/.build/bench-client.mjs <role> <params JSON>` (this file bundled
 * with esbuild); never run by hand. Each role lives in bench/roles/ and
 * reports to the parent over IPC: clients, and the reference server itself
 * (`sync-server`) when a scenario measures it in a process of its own.
 */
import { channelLoadRole } from '../bench/roles/channel-load.js';
import { channelsRole } from '../bench/roles/channels.js';
import { fanoutRole } from '../bench/roles/fanout.js';
import { fanoutReceiverRole } from '../bench/roles/fanout-receiver.js';
import { fanoutServerRole } from '../bench/roles/fanout-server.js';
import { halfOpenRole } from '../bench/roles/half-open.js';
import { machineRole } from '../bench/roles/machine.js';
import { reconnectRole } from '../bench/roles/reconnect.js';
import { renderRole } from '../bench/roles/render.js';
import { slowConsumerRole } from '../bench/roles/slow-consumer.js';
import { stormRole } from '../bench/roles/storm.js';
import { syncServerRole, type SyncServerParams } from '../bench/roles/sync-server.js';
import { channelPairRole, throughputRole } from '../bench/roles/throughput.js';
import { attachToParent, fail } from '../bench/lib/ipc.js';
import { startSyncServer } from '../src/server/start.js';

const ROLES: Record<string, (params: never) => Promise<never>> = {
  throughput: throughputRole,
  'channel-pair': channelPairRole,
  fanout: fanoutRole,
  reconnect: reconnectRole,
  storm: stormRole,
  'half-open': halfOpenRole,
  render: renderRole,
  machine: machineRole,
  'slow-consumer': slowConsumerRole,
  channels: channelsRole,
  'channel-load': channelLoadRole,
  'sync-server': (params: SyncServerParams) => syncServerRole(params, startSyncServer),
  'fanout-server': fanoutServerRole,
  'fanout-receiver': fanoutReceiverRole,
};

attachToParent();
const [role = '', json = '{}'] = process.argv.slice(2);
const run = ROLES[role];
if (run === undefined) {
  await fail(new Error(`unknown bench role ${JSON.stringify(role)}; one of ${Object.keys(ROLES).join(', ')}`));
} else {
  await run(JSON.parse(json) as never).catch(fail);
}
