import type { JobStatus } from '../../schemas.ts';

/**
 * Something took longer than allowed: one request got no complete answer within the client's
 * `timeoutMs` (after its retries), or `jobs.wait` reached its `timeoutMs` before the job finished.
 * A job that timed out in `wait` is still running; `job` is the last status seen, if any.
 */
export class LowburnTimeoutError extends Error {
  readonly timeoutMs: number;
  /** `jobs.wait` only: the last status polled before giving up. */
  readonly job: JobStatus | undefined;

  constructor(message: string, options: { timeoutMs: number; job?: JobStatus; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LowburnTimeoutError';
    this.timeoutMs = options.timeoutMs;
    this.job = options.job;
  }
}
