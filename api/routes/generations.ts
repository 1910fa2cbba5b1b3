import { Hono } from 'hono';
import { generateQueue } from '../../shared/generation/queue.ts';
import { generateRequestSchema } from '../../shared/generation/schema.ts';
import { USER_COUNTED_ROUTE } from '../../shared/usage/api-usage.ts';
import { unreachableAs } from '../api-error.ts';
import { requireScope } from '../auth.ts';
import { budgetCheck, judgeSpend } from '../budget-check.ts';
import type { ApiDeps, ApiEnv } from '../deps.ts';
import { idempotent, parseIdempotencyKey } from '../idempotency.ts';
import { newJobId } from '../job-ids.ts';
import type { RateLimits } from '../rate-limits.ts';
import type { Accepted } from '../schemas.ts';
import { readJson } from '../validation.ts';

export const GENERATIONS_PATH = '/v1/generations';

// The add may have run before Redis went away: only an Idempotency-Key makes a retry safe.
const MAYBE_QUEUED =
  'the job may or may not have been queued; retry with an Idempotency-Key so it can only run once';

/**
 * `POST /v1/generations`: validate, rate-limit key and end user, check the user's daily budget,
 * enqueue, answer 202.
 */
export function generationRoutes(deps: ApiDeps, limits: RateLimits) {
  return new Hono<ApiEnv>().post('/generations', async (c) => {
    const key = c.get('apiKey');
    requireScope(key, 'generate');
    const idempotencyKey = parseIdempotencyKey(c.req.header('idempotency-key'));
    const request = await readJson(c, generateRequestSchema);
    // Counts the key and the end user, and reads the user's budget spend, in one call
    // (`authenticate` leaves this route's key count to it: see app.ts).
    c.set('counted', true);
    const budget = budgetCheck(deps, key, request.userId);
    const counted = await limits.consumeReadingSpend(
      key.id,
      request.userId,
      USER_COUNTED_ROUTE,
      budget?.spendKey,
    );
    const userHeaders = counted.headers;
    // Past the hard budget: 429; past the soft one: the job is marked local-only.
    const mark =
      budget && judgeSpend(budget, counted.spentMicroUsd ?? 0, deps.config.budgets.timeZone);

    const enqueue = async (seed?: string): Promise<Accepted> => {
      const jobId = newJobId(generateQueue.queue, key.id, seed?.slice(0, 22));
      await deps.queues
        .add(
          generateQueue,
          {
            ...request,
            apiKeyId: key.id,
            cacheScope: key.cacheScope,
            ...(mark && { budget: mark }),
          },
          { jobId },
        )
        .catch(unreachableAs('the queue', MAYBE_QUEUED));
      return { id: jobId, status: 'queued', statusUrl: `/v1/jobs/${jobId}` };
    };
    const accepted = idempotencyKey
      ? await idempotent({
          db: deps.db,
          apiKeyId: key.id,
          key: idempotencyKey,
          request,
          ttlMs: deps.config.idempotencyTtlMs,
          create: enqueue,
          onRecordError: (error) =>
            deps.log.error({ err: error }, 'queued, but the idempotency response was not recorded'),
        }).catch(unreachableAs('the database'))
      : await enqueue();
    return c.json(accepted, 202, { ...userHeaders, location: accepted.statusUrl });
  });
}
