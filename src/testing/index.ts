/**
 * `statesocket/testing`: deterministic tests of a connection, your Model and
 * your View. No real timers, no network, no sleeps.
 */
export { FakeWebSocket, createFakeSockets } from './fake-websocket.js';
export type { FakeSockets } from './fake-websocket.js';
export { TestClock, seededRandom } from './clock.js';
export { createTestConnection } from './test-connection.js';
export type { TestConnection, TestConnectionOptions } from './test-connection.js';
export { runSimulation } from './sim.js';
export type { SimEngineOptions, SimOptions, SimResult } from './sim.js';
export type { InstanceTally } from './sim/channels.js';
export { createFakeEnvironment } from './fake-environment.js';
export type { FakeEnvironment } from './fake-environment.js';
