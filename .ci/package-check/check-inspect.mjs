// CI: statesocket/inspect from the installed tarball, with @statelyai/inspect installed.
import assert from 'node:assert/strict';
import { createRelayInspector, toMermaid } from 'statesocket/inspect';

assert.equal(typeof createRelayInspector, 'function');
assert.equal(typeof toMermaid, 'function');
console.log('package check passed: statesocket/inspect');
