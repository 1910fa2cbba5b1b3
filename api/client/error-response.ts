import type { ErrorCode } from '../schemas.ts';
import { LowburnApiError, type LowburnErrorDetail } from './errors/lowburn-api-error.ts';

/**
 * Every code the API can send. A `Record` over `ErrorCode` (the schema's list, imported as a type
 * only, so zod stays out of the bundle) fails to compile when a code is added or removed there.
 */
const knownCodes: Record<ErrorCode, true> = {
  invalid_json: true,
  invalid_request: true,
  payload_too_large: true,
  unauthorized: true,
  forbidden: true,
  not_found: true,
  idempotency_conflict: true,
  rate_limited: true,
  budget_exceeded: true,
  unavailable: true,
  internal: true,
};

const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && Object.hasOwn(knownCodes, value);

/**
 * For answers without our error body (a proxy's HTML 502) or with a code this client version does
 * not know (a newer API): the closest code for the status.
 */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 413:
      return 'payload_too_large';
    case 429:
      return 'rate_limited';
    case 502:
    case 503:
    case 504:
      return 'unavailable';
    default:
      return status >= 500 ? 'internal' : 'invalid_request';
  }
}

/** `Retry-After` as whole seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

/** The well-formed entries of an error's `details`, or `undefined` when it has none. */
function parseDetails(value: unknown): LowburnErrorDetail[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.flatMap((d): LowburnErrorDetail[] =>
    isObject(d) && typeof d.field === 'string' && typeof d.message === 'string'
      ? [
          {
            ...(typeof d.index === 'number' ? { index: d.index } : {}),
            field: d.field,
            message: d.message,
          },
        ]
      : [],
  );
}

/** Turns a non-2xx answer into a `LowburnApiError`, whatever its body looks like. */
export function toApiError(response: Response, text: string): LowburnApiError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = isObject(body) && isObject(body.error) ? body.error : {};
  const snippet = text.trim().slice(0, 200);
  return new LowburnApiError({
    status: response.status,
    code: isErrorCode(error.code) ? error.code : codeForStatus(response.status),
    message:
      typeof error.message === 'string'
        ? error.message
        : `HTTP ${response.status}${snippet ? `: ${snippet}` : ''}`,
    field: typeof error.field === 'string' ? error.field : undefined,
    retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after')),
    details: parseDetails(error.details),
  });
}
