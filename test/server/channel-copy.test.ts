import { describe, expect, it } from 'vitest';
import { Channel, type Timers } from '../../src/server/channel.js';
import { DEFAULT_VALUE_LIMITS } from '../../src/sync/values.js';

/** Timers a test fires by hand. */
function manualTimers(): Timers & { fire(): void; pending(): number } {
  const timers = new Map<number, () => void>();
  let next = 0;
  return {
    setTimeout: (callback) => {
      timers.set(++next, callback);
      return next;
    },
    clearTimeout: (handle) => void timers.delete(handle as number),
    fire: () => {
      const due = [...timers.values()];
      timers.clear();
      for (const callback of due) callback();
    },
    pending: () => timers.size,
  };
}

function loadedChannel(): Channel {
  const channel = new Channel('c', { logSize: 100, maxDataBytes: 1_000_000, value: DEFAULT_VALUE_LIMITS });
  channel.start({ epoch: 'E', seq: 3, data: {}, members: [] });
  return channel;
}

describe('Channel.deliveredWithin (a position a client claims)', () => {
  it('answers at once for a position the copy reached, or another epoch', () => {
    const channel = loadedChannel();
    const timers = manualTimers();
    expect(channel.deliveredWithin('E', 3, 2_000, timers)).toBe(true);
    expect(channel.deliveredWithin('F', 1, 2_000, timers)).toBe(false);
    expect(timers.pending()).toBe(0);
  });

  it('resolves true when the entry arrives, and clears its timer', async () => {
    const channel = loadedChannel();
    const timers = manualTimers();
    const waiting = channel.deliveredWithin('E', 4, 2_000, timers);
    const checked = channel.validate({ set: { x: 1 } });
    if (Array.isArray(checked)) throw new Error(checked[1]);
    channel.apply(checked, 4);
    channel.entryApplied();
    await expect(waiting).resolves.toBe(true);
    expect(timers.pending()).toBe(0);
    expect(channel.waiting).toBe(0);
  });

  it('gives up with false after the wait and leaves nothing behind, however often a client claims a position never reached', async () => {
    const channel = loadedChannel();
    const timers = manualTimers();
    for (let round = 0; round < 50; round++) {
      const waiting = channel.deliveredWithin('E', 1_000_000_000, 2_000, timers);
      expect(channel.waiting).toBe(1);
      timers.fire();
      await expect(waiting).resolves.toBe(false);
      expect(channel.waiting).toBe(0);
    }
  });

  it('resolves false when the copy starts another epoch first (delivered too)', async () => {
    const channel = loadedChannel();
    const timers = manualTimers();
    const waiting = channel.deliveredWithin('E', 10, 2_000, timers);
    const ack = channel.delivered('E', 2 + 2);
    channel.start({ epoch: 'F', seq: 0, data: {}, members: [] });
    await expect(waiting).resolves.toBe(false);
    // an ack waiting for an entry of the lost epoch is never sent, even once the new epoch passes its seq
    await expect(ack).resolves.toBe(false);
    expect(timers.pending()).toBe(0);
    expect(channel.waiting).toBe(0);
  });
});
