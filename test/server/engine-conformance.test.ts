/**
 * The memory engine against the engine conformance suite (test/support/engine-conformance.ts),
 * which the Redis engine runs too.
 */
import { memoryEngine } from '../../src/server/engines/memory.js';
import { describeEngine } from '../support/engine-conformance.js';

describeEngine('memory', (limits) => memoryEngine({ logSize: limits.logSize }));
