/**
 * Server options next to a Redis engine of your own (the shared Redis, this file's own prefix):
 * the options that are the engine's (its records, bounds and retention) are refused with the
 * engine, naming the option and where it belongs, instead of being ignored without a word; and
 * `attachSyncServer` says what it was given when its first argument is not an HTTP server.
 */
import { createServer } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { ENGINE_OWNED_OPTIONS } from '../../../src/server/engine.js';
import { attachSyncServer, createSyncServer, startSyncServer } from '../../../src/server/index.js';
import { redisTestBed } from './redis-support.js';

const bed = redisTestBed('server-options');
afterAll(() => bed.cleanup());

describe('engine-owned options with engine', () => {
  it.each(ENGINE_OWNED_OPTIONS)('refuses %s next to a Redis engine, saying to give it to the engine', async (name) => {
    const engine = await bed.engine();
    const expected = new RegExp(`${name} is the engine's option, and with engine the server does not read it; give it to the engine instead \\(memoryEngine\\(\\{ ${name} \\}\\) or redisEngine\\(\\{ ${name} \\}\\)`);
    await expect(startSyncServer({ port: 0, host: '127.0.0.1', engine, [name]: 1000 })).rejects.toThrow(new RegExp(`^startSyncServer: ${expected.source}`));
    const http = createServer();
    expect(() => attachSyncServer(http, { engine, [name]: 1000 })).toThrow(new RegExp(`^attachSyncServer: ${expected.source}`));
    expect(() => createSyncServer({ engine, [name]: 1000 })).toThrow(new RegExp(`^createSyncServer: ${expected.source}`));
  });
});
