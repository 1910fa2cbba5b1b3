import type { JobStatus } from '../schemas.ts';
import { deadline, sleep } from './abort.ts';
import { LowburnApiError } from './errors/lowburn-api-error.ts';
import { LowburnTimeoutError } from './errors/lowburn-timeout-error.ts';
import { isTransient } from './retry-policy.ts';

/** Options of `jobs.wait`. */
export interface WaitOptions {
  /** Give up (with a `LowburnTimeoutError`) after this long; the job itself keeps running. */
  timeoutMs: number;
  /**
   * Pause before the second poll; each pause is 1.5× the last, up to 5 s.
   * @defaultValue 500
   */
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

const MAX_POLL_INTERVAL_MS = 5_000;
const POLL_GROWTH = 1.5;

/**
 * Polls `get` until the job is completed or failed (both are answers, neither throws). A transient
 * failure of one poll (no answer, 429, 503) does not end the wait: the next poll comes after the
 * usual pause, or after `Retry-After` when that is longer. Anything else (404, 401) is thrown.
 */
export async function waitForJob(
  get: (id: string, signal: AbortSignal) => Promise<JobStatus>,
  id: string,
  options: WaitOptions,
): Promise<JobStatus> {
  const { timeoutMs, pollIntervalMs = 500 } = options;
  let last: JobStatus | undefined;
  let lastError: unknown;
  const limit = deadline(timeoutMs, options.signal, () => {
    const seen = last ? `last status: ${last.status}` : 'no status seen yet';
    return new LowburnTimeoutError(`job ${id} did not finish within ${timeoutMs} ms (${seen})`, {
      timeoutMs,
      ...(last && { job: last }),
      cause: lastError,
    });
  });
  try {
    for (
      let pause = pollIntervalMs;
      ;
      pause = Math.min(pause * POLL_GROWTH, MAX_POLL_INTERVAL_MS)
    ) {
      let next = pause;
      try {
        last = await get(id, limit.signal);
        lastError = undefined;
        if (last.status === 'completed' || last.status === 'failed') return last;
      } catch (error) {
        if (limit.signal.aborted || !isTransient(error)) throw error;
        lastError = error;
        if (error instanceof LowburnApiError && error.retryAfterSeconds !== undefined) {
          next = Math.max(next, error.retryAfterSeconds * 1_000);
        }
      }
      await sleep(next, limit.signal);
    }
  } catch (error) {
    // The deadline's reason (our timeout error) or the caller's abort reason, not a side effect.
    throw limit.signal.aborted ? limit.signal.reason : error;
  } finally {
    limit.dispose();
  }
}
