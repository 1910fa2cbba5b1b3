import { SecretDecryptionError } from '../errors/secret-decryption-error.ts';
import { SecretKeyUnavailableError } from '../errors/secret-key-unavailable-error.ts';
import { WebhookDeliveryError } from '../errors/webhook-delivery-error.ts';
import { toStorableText } from '../json/storable-text.ts';
import type { DeliveryResponse } from './http/safe-fetch.ts';

/**
 * What one attempt's result means for the delivery:
 * - `succeeded`: a 2xx;
 * - `gone`: `410 Gone`, the receiver asks never to be called again at this URL;
 * - `permanent`: repeating the same request cannot help (a 4xx other than 408/429, a blocked,
 *   malformed or clear-text URL);
 * - `retry`: anything else (5xx, 408, 429, 3xx — redirects are never followed —, timeouts and
 *   network errors), after the schedule's delay or the receiver's `Retry-After`.
 *
 * `reason` is a small, fixed vocabulary, safe as a metric label.
 */
export type AttemptVerdict =
  | { kind: 'succeeded'; reason: 'ok' }
  | { kind: 'gone'; reason: 'http_410' }
  | { kind: 'permanent' | 'retry'; reason: string; retryAfterMs?: number | undefined };

/** Judges an HTTP answer. */
export function judgeResponse(response: DeliveryResponse): AttemptVerdict {
  const { status } = response;
  if (status >= 200 && status < 300) return { kind: 'succeeded', reason: 'ok' };
  if (status === 410) return { kind: 'gone', reason: 'http_410' };
  if (status === 408 || status === 429) {
    return { kind: 'retry', reason: `http_${status}`, retryAfterMs: response.retryAfterMs };
  }
  const reason =
    status >= 100 && status < 600 ? `http_${Math.floor(status / 100)}xx` : 'http_other';
  if (status >= 400 && status < 500) return { kind: 'permanent', reason };
  return { kind: 'retry', reason, retryAfterMs: response.retryAfterMs };
}

/** Judges a request that got no HTTP answer; `undefined` for an error that is not the receiver's. */
export function judgeError(error: unknown): AttemptVerdict | undefined {
  if (!(error instanceof WebhookDeliveryError)) return undefined;
  return { kind: error.permanent ? 'permanent' : 'retry', reason: error.reason };
}

/**
 * Judges a delivery whose signing secret could not be opened (nothing was sent), or
 * `undefined` for another error. A key the process does not hold is an operator's mistake that
 * setting `SECRETS_KEY_PREVIOUS` fixes, so the delivery waits on the retry schedule (bounded:
 * dead-lettered, and replayable, at its end); a value that fails authentication will never
 * open, so the delivery fails at once.
 */
export function judgeSecretError(error: unknown): AttemptVerdict | undefined {
  if (error instanceof SecretKeyUnavailableError) {
    return { kind: 'retry', reason: 'secret_key_unavailable' };
  }
  if (error instanceof SecretDecryptionError) {
    return { kind: 'permanent', reason: 'secret_undecryptable' };
  }
  return undefined;
}

/**
 * The delay before the next attempt of a run that has made `runAttempts` attempts, or
 * `undefined` when the schedule is used up (the delivery is dead). A `Retry-After` may postpone
 * the attempt past the schedule's delay, by at most `retryAfterMaxMs`; it never brings it
 * forward, so a receiver cannot make us hammer it.
 */
export function nextAttemptDelay(options: {
  scheduleMs: readonly number[];
  runAttempts: number;
  retryAfterMs?: number | undefined;
  retryAfterMaxMs: number;
}): number | undefined {
  const scheduled = options.scheduleMs[options.runAttempts];
  if (scheduled === undefined) return undefined;
  const asked = Math.min(options.retryAfterMs ?? 0, options.retryAfterMaxMs);
  return Math.max(scheduled, asked);
}

const MAX_ERROR_CHARS = 500;

/** The ledger's `error` for a non-2xx answer: the status and the start of the body. */
export function describeResponse(response: DeliveryResponse): string | null {
  if (response.status >= 200 && response.status < 300) return null;
  const body = toStorableText(response.body.replace(/\s+/g, ' ').trim().slice(0, 200));
  return `HTTP ${response.status}${body ? `: ${body}` : ''}`;
}

/** The ledger's `error` for a request without an answer. */
export function describeError(error: Error): string {
  return toStorableText(error.message.slice(0, MAX_ERROR_CHARS));
}
