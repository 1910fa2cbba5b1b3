import { LowburnApiError } from './errors/lowburn-api-error.ts';
import { LowburnNetworkError } from './errors/lowburn-network-error.ts';
import { LowburnTimeoutError } from './errors/lowburn-timeout-error.ts';

/** First backoff step; it doubles per retry, with 50–100 % jitter, up to `MAX_BACKOFF_MS`. */
const BASE_BACKOFF_MS = 300;
const MAX_BACKOFF_MS = 5_000;
/**
 * The longest `Retry-After` the client sleeps through itself. A longer one (a rate-limit window
 * resetting in a minute) is thrown at once, with `retryAfterSeconds`, for the caller to decide:
 * a serverless function should not sit idle that long, and retrying sooner would only be refused.
 */
export const MAX_RETRY_AFTER_MS = 10_000;
/** Spread added to `Retry-After`, so callers refused together do not all return in one instant. */
const RETRY_AFTER_SPREAD_MS = 250;

/** 429 and 503 mean "not now": the API did nothing with the request. */
const isNotNow = (error: unknown): error is LowburnApiError =>
  error instanceof LowburnApiError && (error.status === 429 || error.status === 503);

/** A failure that may pass by itself: no answer, a slow answer, or a 429/503. */
export const isTransient = (error: unknown): boolean =>
  error instanceof LowburnNetworkError || error instanceof LowburnTimeoutError || isNotNow(error);

function backoffMs(retry: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** retry);
  return ceiling * (0.5 + Math.random() * 0.5);
}

/**
 * How long to wait before retry number `retry` (0-based) after `error`, or `undefined` to give up.
 * `repeatable` says whether the request may be sent twice: without it, only a 429/503 (the API
 * certainly did nothing) is retried, never a lost or slow answer (it may have been acted on).
 */
export function retryDelayMs(
  error: unknown,
  retry: number,
  repeatable: boolean,
): number | undefined {
  if (isNotNow(error)) {
    if (error.retryAfterSeconds === undefined) return backoffMs(retry);
    const ms = error.retryAfterSeconds * 1_000;
    return ms > MAX_RETRY_AFTER_MS ? undefined : ms + Math.random() * RETRY_AFTER_SPREAD_MS;
  }
  const unanswered = error instanceof LowburnNetworkError || error instanceof LowburnTimeoutError;
  return unanswered && repeatable ? backoffMs(retry) : undefined;
}
