// The open-model scheduler (k6's arrival-rate executors): every arrival is started when it is due,
// whatever the system under test does — a slow or hanging answer delays nothing after it. What
// can delay an arrival is the load generator itself (its event loop busy, its timers late): that
// lag is measured for every arrival, and an arrival started more than 1 s after it was due is
// late. A run with late arrivals measured its load generator, not only the system.

import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from '../support.ts';

/** Started over 1 s after it was due: the bar for a late arrival. */
export const LATE_MS = 1_000;

export interface LagSummary {
  started: number;
  late: number;
  /** Ms from due to started. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * Starts `start(i)` for i = 0…due.length−1 at `origin + due[i]` (ms on `performance.now()`'s
 * clock, `due` ascending), never waiting for an earlier one to finish; resolves once every one
 * was started (not finished: the caller keeps the promises it cares about).
 */
export async function openModel(
  due: ArrayLike<number>,
  origin: number,
  start: (i: number) => void,
  options: { stop?: AbortSignal } = {},
): Promise<LagSummary> {
  const lags = new Float64Array(due.length);
  let late = 0;
  let i = 0;
  while (i < due.length && !options.stop?.aborted) {
    const now = performance.now();
    // Everything due by now goes out in this turn of the loop.
    for (; i < due.length && origin + (due[i] ?? 0) <= now; i++) {
      const lag = now - (origin + (due[i] ?? 0));
      lags[i] = lag;
      if (lag > LATE_MS) late++;
      start(i);
    }
    if (i >= due.length) break;
    const wait = origin + (due[i] ?? 0) - performance.now();
    // Timers fire about once a millisecond; sleep to just before the next one is due.
    await sleep(Math.max(0, Math.min(wait - 1, 1_000)));
  }
  const sorted = Array.from(lags.subarray(0, i)).sort((a, b) => a - b);
  return {
    started: i,
    late,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? 0,
  };
}
