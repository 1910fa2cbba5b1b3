import type { JobsOptions } from 'bullmq';
import type { JobOptions } from './job-definition.ts';

export const DEFAULT_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_MS = 1_000;
export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_CONCURRENCY = 5;
const DAY_S = 86_400;

/** Resolved per-queue options: the definition's, else the defaults. */
export function resolveJobOptions(options: JobOptions = {}): Required<JobOptions> {
  return {
    attempts: options.attempts ?? DEFAULT_ATTEMPTS,
    backoffMs: options.backoffMs ?? DEFAULT_BACKOFF_MS,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    keepCompleted: options.keepCompleted ?? { age: DAY_S, count: 1_000 },
    keepFailed: options.keepFailed ?? { age: 7 * DAY_S, count: 5_000 },
    runAtStart: options.runAtStart ?? false,
  };
}

/**
 * BullMQ job options for a queue. Finished jobs are removed by age and count (unbounded
 * finished sets are the most common Redis out-of-memory); retries back off exponentially with
 * jitter so a fleet does not retry in lockstep after an outage.
 */
export function bullJobOptions(options: JobOptions = {}): JobsOptions {
  const resolved = resolveJobOptions(options);
  return {
    attempts: resolved.attempts,
    backoff: { type: 'exponential', delay: resolved.backoffMs, jitter: 0.5 },
    removeOnComplete: resolved.keepCompleted,
    removeOnFail: resolved.keepFailed,
  };
}
