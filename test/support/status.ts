import type { ConnectionStatus } from '../../src/types.js';

/** A status for view tests: open, nothing counted, with the fields a test cares about overridden. */
export function makeStatus(overrides: Partial<ConnectionStatus> = {}): ConnectionStatus {
  return {
    state: 'open',
    attempt: 0,
    nextRetryAt: null,
    nextDelayMs: null,
    parked: null,
    online: true,
    pageHidden: false,
    url: null,
    lastError: null,
    lastClose: null,
    lastRejected: null,
    lastCallbackError: null,
    outboxSize: 0,
    counters: { received: 0, rejected: 0, sent: 0, renders: 0, reconnects: 0, dropped: 0, callbackErrors: 0 },
    ...overrides,
  };
}
