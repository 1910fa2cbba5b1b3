import type { ErrorCode } from '../../schemas.ts';

/** One problem of a request that carries many items (a telemetry batch). */
export interface LowburnErrorDetail {
  /** Position of the item in the request's array; absent when the problem is not one item's. */
  index?: number | undefined;
  /** Dotted path of the offending field within the item. */
  field: string;
  message: string;
}

/**
 * The API answered with an error: `status`, a stable `code` to switch on, a `message` a person
 * can act on, the offending `field` (dotted path) when there is one, and — on 429 and 503 — how
 * many seconds the API asked us to wait before trying again. A rejected batch (a 422 from
 * `telemetry.send`) lists every problem in `details`.
 *
 * @example
 * ```ts
 * try {
 *   await lowburn.generations.create(request);
 * } catch (error) {
 *   if (error instanceof LowburnApiError && error.code === 'invalid_request') {
 *     form.setError(error.field ?? 'prompt', error.message);
 *   } else throw error;
 * }
 * ```
 */
export class LowburnApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly field: string | undefined;
  /** From `Retry-After` (seconds, or an HTTP date converted to seconds from now). */
  readonly retryAfterSeconds: number | undefined;
  /** Every problem by item `index` and `field`, when the API listed them; else `undefined`. */
  readonly details: readonly LowburnErrorDetail[] | undefined;

  constructor(options: {
    status: number;
    code: ErrorCode;
    message: string;
    field?: string | undefined;
    retryAfterSeconds?: number | undefined;
    details?: readonly LowburnErrorDetail[] | undefined;
  }) {
    super(options.message);
    this.name = 'LowburnApiError';
    this.status = options.status;
    this.code = options.code;
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
  }
}
