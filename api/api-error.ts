import { isStoreUnreachable } from '../shared/errors/store-unreachable.ts';
import type { ErrorBody, ErrorCode } from './schemas.ts';

/**
 * An error the API answers with: a status, a stable `code` the client can switch on, a
 * message a person can act on, and the offending field when there is one.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly headers: Record<string, string>;
  readonly details: ErrorBody['error']['details'];

  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    options: {
      field?: string;
      headers?: Record<string, string>;
      details?: ErrorBody['error']['details'];
    } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = options.field;
    this.headers = options.headers ?? {};
    this.details = options.details;
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.field === undefined ? {} : { field: this.field }),
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/**
 * Redis (or Postgres) did not answer, and the caller should retry. `outcome` says what became of
 * the work: by default nothing was queued; a command whose answer was lost (Redis died after
 * running it) may have queued it, and the message must not promise otherwise.
 */
export const unavailable = (what: string, outcome = 'nothing was queued, retry shortly') =>
  new ApiError(503, 'unavailable', `${what} is unavailable; ${outcome}`, {
    headers: { 'retry-after': '2' },
  });

/**
 * The error to throw for `error`: 503 when a store was unreachable, else `error` itself — a
 * "retry shortly" for a request that can never work would invite endless retries (a bug is a
 * logged 500).
 */
export function unavailableIfUnreachable(what: string, error: unknown, outcome?: string): unknown {
  return isStoreUnreachable(error) ? unavailable(what, outcome) : error;
}

/** For `.catch`: an unreachable store becomes 503 (see {@link unavailable}), anything else is rethrown. */
export const unreachableAs =
  (what: string, outcome?: string) =>
  (error: unknown): never => {
    throw unavailableIfUnreachable(what, error, outcome);
  };
