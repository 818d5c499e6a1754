/** Summary statistics for repetitions and samples. Pure. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Linear-interpolated percentile (p in 0–100) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = sorted(values);
  const rank = (p / 100) * (s.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const a = s[low]!;
  const b = s[high]!;
  return a + (b - a) * (rank - low);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Median with min and max: what every table cell reports. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const s = sorted(values);
  return { median: percentile(s, 50), min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** The largest number of timestamps (ms) inside any window of `windowMs`. */
export function maxInWindow(timestamps: readonly number[], windowMs: number): number {
  const s = sorted(timestamps);
  let best = 0;
  let start = 0;
  for (let end = 0; end < s.length; end++) {
    while (s[end]! - s[start]! >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** Counts of timestamps (ms, at or after `origin`) in consecutive buckets of `bucketMs` from `origin`. */
export function histogram(timestamps: readonly number[], origin: number, bucketMs: number): number[] {
  const counts: number[] = [];
  for (const t of timestamps) {
    if (t < origin) continue;
    const bucket = Math.floor((t - origin) / bucketMs);
    while (counts.length <= bucket) counts.push(0);
    counts[bucket]!++;
  }
  return counts;
}

/**
 * Ratios of `values[i] / references[i]`, repetition by repetition (the two measured in the same
 * repetition), and the worst of them: the highest for a cost, the lowest for a rate. NaN when a
 * repetition is missing on either side.
 */
export function pairedRatios(values: readonly number[], references: readonly number[], worst: 'highest' | 'lowest'): { ratios: number[]; worst: number; median: number } {
  const n = Math.min(values.length, references.length);
  const ratios = Array.from({ length: n }, (_, i) => values[i]! / references[i]!);
  if (n === 0 || ratios.some((r) => !Number.isFinite(r))) return { ratios, worst: NaN, median: NaN };
  return { ratios, worst: worst === 'highest' ? Math.max(...ratios) : Math.min(...ratios), median: median(ratios) };
}
