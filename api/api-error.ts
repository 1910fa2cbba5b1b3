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

/** Redis (or Postgres) did not answer: the work was not accepted, and the caller should retry. */
export const unavailable = (what: string) =>
  new ApiError(503, 'unavailable', `${what} is unavailable; nothing was queued, retry shortly`, {
    headers: { 'retry-after': '2' },
  });
