import { describe, expect, it } from 'vitest';
import { Listeners } from '../src/listeners.js';
import { makeStatus } from './support/status.js';
import { failureRecorder, settle } from './support/failures.js';

describe('status listeners', () => {
  it('calls every listener with the status, in the order they were added, until it is removed', () => {
    const r = failureRecorder();
    const listeners = new Listeners(r.failed);
    const calls: string[] = [];
    listeners.add((status) => calls.push(`a ${status.state}`));
    const removeB = listeners.add((status) => calls.push(`b ${status.state}`));
    listeners.notify(makeStatus({ state: 'open' }), true);
    removeB();
    listeners.notify(makeStatus({ state: 'errored' }), true);
    expect(calls).toEqual(['a open', 'b open', 'a errored']);
  });

  it('keeps calling the others when one throws, and reports it once per status', () => {
    const r = failureRecorder();
    const listeners = new Listeners(r.failed);
    const calls: string[] = [];
    listeners.add(() => {
      throw new Error('first');
    });
    listeners.add(() => {
      throw new Error('second');
    });
    listeners.add((status) => calls.push(status.state));
    listeners.notify(makeStatus({ state: 'open' }), true);
    expect(calls).toEqual(['open']);
    expect(r.failures).toEqual([{ code: 'ERR_LISTENER_FAILED', message: 'a status listener threw: first' }]);
  });

  it('reports a rejection like a throw', async () => {
    const r = failureRecorder();
    const listeners = new Listeners(r.failed);
    listeners.add(() => Promise.reject(new Error('async listener')) as unknown as void);
    listeners.notify(makeStatus({ state: 'open' }), true);
    await settle();
    expect(r.failures).toEqual([{ code: 'ERR_LISTENER_FAILED', message: 'a status listener rejected: async listener' }]);
  });

  it('reports nothing for the status that reports a failure', async () => {
    const r = failureRecorder();
    const listeners = new Listeners(r.failed);
    listeners.add(() => {
      throw new Error('always');
    });
    listeners.add(() => Promise.reject(new Error('always')) as unknown as void);
    listeners.notify(makeStatus({ state: 'open' }), false);
    await settle();
    expect(r.failures).toEqual([]);
  });
});
