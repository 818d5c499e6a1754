/**
 * The engine conformance suite (test/support/engine-conformance.ts, from the engine branch) run
 * against the Redis engine on the shared Redis, with a key prefix of this file's own.
 */
import { afterAll } from 'vitest';
import { describeEngine } from '../../support/engine-conformance.js';
import { redisTestBed } from './redis-support.js';

const bed = redisTestBed('conformance');
afterAll(() => bed.cleanup());

describeEngine('redis', (limits) => bed.engine({ logSize: limits.logSize }));
