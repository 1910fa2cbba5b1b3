import { Hono } from 'hono';
import { z } from 'zod';
import { appendPings } from '../../shared/telemetry/buffer.ts';
import { parsePings } from '../../shared/telemetry/ping.ts';
import { ApiError, unavailable } from '../api-error.ts';
import { requireScope } from '../auth.ts';
import type { ApiDeps, ApiEnv } from '../deps.ts';
import type { TelemetryAccepted } from '../schemas.ts';
import { readJson } from '../validation.ts';

export const MAX_PINGS_PER_REQUEST = 1_000;

/** One ping, or an array of up to 1,000: the shape is checked here, each ping below. */
export const telemetryBodySchema = z.union([
  z
    .array(z.unknown())
    .min(1)
    .max(MAX_PINGS_PER_REQUEST, `send at most ${MAX_PINGS_PER_REQUEST} pings per request`),
  z.record(z.string(), z.unknown()),
]);

/**
 * `POST /v1/telemetry`: validates the whole batch (one bad ping rejects it, with the index and
 * field of every problem), then appends it to the Redis stream in one round trip. No database
 * write happens here; `flush-telemetry` batches them into Postgres.
 */
export function telemetryRoutes(deps: ApiDeps) {
  return new Hono<ApiEnv>().post('/telemetry', async (c) => {
    requireScope(c.get('apiKey'), 'telemetry');
    const body = await readJson(c, telemetryBodySchema);
    const parsed = parsePings(Array.isArray(body) ? body : [body]);
    if (!parsed.ok) {
      const first = parsed.issues[0];
      const where = (i: { index: number; field: string }) =>
        Array.isArray(body) ? `${i.index}.${i.field}` : i.field;
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
    } catch {
      throw unavailable('the telemetry buffer');
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
