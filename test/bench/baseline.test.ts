/**
 * bench/lib/baseline.ts: the engine-baseline scenario's server from git history. Without the
 * commit (a shallow clone, a tarball) it answers why instead of throwing, so the bench's other
 * rows still run.
 */
import { describe, expect, it } from 'vitest';
import { buildBaseline } from '../../bench/lib/baseline.js';

describe('the engine-baseline server', () => {
  it('answers why, naming the commit, when git history lacks it', async () => {
    const baseline = await buildBaseline('0123456789abcdef0123456789abcdef01234567');
    expect(baseline.available).toBe(false);
    expect(baseline.available ? '' : baseline.reason).toMatch(/commit 0123456789abcdef0123456789abcdef01234567 is not in this checkout's git history.*shallow clone/);
  });
});
