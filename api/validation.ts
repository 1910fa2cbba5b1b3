import type { Context } from 'hono';
import type { z } from 'zod';
import { findUnstorable } from '../shared/json/storable-text.ts';
import { ApiError } from './api-error.ts';

// JSON is UTF-8 (RFC 8259 §8.1). A lenient decoder turns bad bytes into U+FFFD and the request
// would be accepted with text the caller never sent; this one throws instead.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The first problem of a failed parse as an `invalid_request` naming the field. */
export function invalidRequest(error: z.ZodError, where = 'body'): ApiError {
  const issue = error.issues[0];
  if (!issue) return new ApiError(422, 'invalid_request', `invalid ${where}`);
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0] ?? ''].join('.');
    return new ApiError(422, 'invalid_request', `unknown field "${field}"; remove it`, { field });
  }
  const field = path.join('.');
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  return new ApiError(
    422,
    'invalid_request',
    `${field ? `${field}: ` : ''}${issue.message}${more}`,
    field ? { field } : {},
  );
}

/** Deeper JSON is refused before parsing: it cannot be queued (Redis' Lua JSON decoder stops
 * at 1,000 levels) and nothing lowburn accepts needs more. */
export const MAX_JSON_DEPTH = 64;

/** True when `text` opens more than `max` nested arrays/objects (strings are skipped). */
export function exceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \\ */) i++;
      else if (ch === 34 /* " */) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91 /* { [ */) {
      if (++depth > max) return true;
    } else if (ch === 125 || ch === 93 /* } ] */) depth--;
  }
  return false;
}

/**
 * The 422 for a string or key anywhere in the body that Postgres cannot store (NUL, a lone
 * surrogate), naming where it is. Only a `\u` escape can put one there: raw control characters
 * are invalid JSON and the body was decoded as strict UTF-8, so bodies without one skip the walk.
 */
function refuseUnstorable(text: string, body: unknown): void {
  if (!text.includes('\\u')) return;
  const found = findUnstorable(body);
  if (!found) return;
  const field = found.path.map(String).join('.');
  const what = found.kind === 'key' ? `the key "${found.path.at(-1)}"` : 'the text';
  throw new ApiError(
    422,
    'invalid_request',
    `${field ? `${field}: ` : ''}${what} ${found.problem}; it cannot be stored, so nothing was accepted`,
    field ? { field } : {},
  );
}

/**
 * Reads the JSON body and parses it with `schema`. Bytes that are not UTF-8 and malformed JSON
 * are 400; text that cannot be stored (NUL, lone surrogates) anywhere in it, and a body that is
 * JSON but not what the schema wants, are 422 naming the field. The size cap is enforced before
 * this runs.
 */
export async function readJson<S extends z.ZodType>(
  c: Context,
  schema: S,
  options: { emptyAs?: z.input<S> } = {},
): Promise<z.output<S>> {
  const type = c.req.header('content-type') ?? '';
  const bytes = await c.req.arrayBuffer();
  if (bytes.byteLength === 0 && options.emptyAs !== undefined) {
    // An empty body may be as wrong as any other (a route that needs some field): a 422 too.
    const parsed = schema.safeParse(options.emptyAs);
    if (!parsed.success) throw invalidRequest(parsed.error);
    return parsed.data as z.output<S>;
  }
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new ApiError(
      415,
      'invalid_request',
      'send the body as JSON with Content-Type: application/json',
      { field: 'content-type' },
    );
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError(
      400,
      'invalid_json',
      'the body is not valid UTF-8; send JSON encoded as UTF-8 (nothing was accepted)',
    );
  }
  if (exceedsDepth(text, MAX_JSON_DEPTH)) {
    throw new ApiError(
      400,
      'invalid_json',
      `the body nests deeper than ${MAX_JSON_DEPTH} levels; flatten it`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ApiError(
      400,
      'invalid_json',
      `the body is not valid JSON: ${(error as Error).message}`,
    );
  }
  refuseUnstorable(text, body);
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw invalidRequest(parsed.error);
  return parsed.data as z.output<S>;
}
