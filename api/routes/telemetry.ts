import { Hono } from 'hono';
import { z } from 'zod';
import { appendPings } from '../../shared/telemetry/buffer.ts';
import { parsePings } from '../../shared/telemetry/ping.ts';
import { ApiError, unavailableIfUnreachable } from '../api-error.ts';
import { requireScope } from '../auth.ts';
import type { ApiDeps, ApiEnv } from '../deps.ts';
import type { TelemetryAccepted } from '../schemas.ts';
import { readJson } from '../validation.ts';

export const MAX_PINGS_PER_REQUEST = 1_000;

/** One ping, or an array of 1 to 1,000; each ping is checked by `parsePings`. */
function pingList(body: unknown): unknown[] {
  if (Array.isArray(body)) {
    if (body.length === 0 || body.length > MAX_PINGS_PER_REQUEST) {
      throw new ApiError(
        422,
        'invalid_request',
        `send at least 1 and at most ${MAX_PINGS_PER_REQUEST.toLocaleString('en')} pings per request (got ${body.length})`,
      );
    }
    return body;
  }
  if (body !== null && typeof body === 'object') return [body];
  throw new ApiError(422, 'invalid_request', 'send one ping object or an array of pings');
}

/**
 * `POST /v1/telemetry`: validates the whole batch (one bad ping rejects it, with the index and
 * field of every problem), then appends it to the Redis stream in one round trip. No database
 * write happens here; `flush-telemetry` batches them into Postgres.
 */
export function telemetryRoutes(deps: ApiDeps) {
  return new Hono<ApiEnv>().post('/telemetry', async (c) => {
    requireScope(c.get('apiKey'), 'telemetry');
    const body = await readJson(c, z.unknown());
    const parsed = parsePings(pingList(body));
    if (!parsed.ok) {
      const first = parsed.issues[0];
      const where = (i: { index: number; field: string }) =>
        Array.isArray(body) ? [i.index, i.field].filter((p) => p !== '').join('.') : i.field;
      throw new ApiError(
        422,
        'invalid_request',
        `${parsed.issues.length} problem(s), nothing was accepted; first: ${first ? `${where(first)}: ${first.message}` : ''}`,
        { field: first ? where(first) : undefined, details: parsed.issues },
      );
    }
    let appended: boolean;
    try {
      appended = await appendPings(
        deps.redis,
        { prefix: deps.queues.prefix, cap: deps.telemetry.bufferCap },
        parsed.pings,
      );
    } catch (error) {
      // The append may have run before Redis went away; the ping ids make a resend safe.
      throw unavailableIfUnreachable(
        'the telemetry buffer',
        error,
        'the pings may or may not have been buffered; resend them with the same pingIds (each is stored once)',
      );
    }
    if (!appended) {
      throw new ApiError(
        503,
        'unavailable',
        'the telemetry buffer is full while the database catches up; retry shortly',
        {
          headers: { 'retry-after': '5' },
        },
      );
    }
    return c.json({ accepted: parsed.pings.length } satisfies TelemetryAccepted, 202);
  });
}
