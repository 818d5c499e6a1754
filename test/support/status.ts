import { IDLE_STATUS } from '../../src/status.js';
import type { ConnectionStatus } from '../../src/types.js';

/** A status for view tests: open, nothing counted, with the fields a test cares about overridden. */
export function makeStatus(overrides: Partial<ConnectionStatus> = {}): ConnectionStatus {
  return { ...IDLE_STATUS, state: 'open', counters: { ...IDLE_STATUS.counters }, ...overrides };
}
