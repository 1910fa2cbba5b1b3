import { Hono } from 'hono';
import { purgeCache } from '../../shared/inference/cache-purge.ts';
import { unavailableIfUnreachable } from '../api-error.ts';
import { requireScope } from '../auth.ts';
import type { ApiDeps, ApiEnv } from '../deps.ts';
import { type CachePurgeResultBody, cachePurgeRequestSchema } from '../schemas.ts';
import { readJson } from '../validation.ts';

/**
 * `DELETE /v1/cache` (admin scope): removes cached answers from every layer, and their
 * semantic entries from every worker's index: by task type, template, prompt, messages, key or
 * namespace, optionally within one cache scope. Answers the counts; `dryRun` only counts.
 */
export function cacheRoutes(deps: ApiDeps) {
  return new Hono<ApiEnv>().delete('/cache', async (c) => {
    requireScope(c.get('apiKey'), 'admin');
    // No body at all is a request that names nothing: the schema's 422 says what to send.
    const { dryRun, ...selector } = await readJson(c, cachePurgeRequestSchema, { emptyAs: {} });
    let result: Awaited<ReturnType<typeof purgeCache>>;
    try {
      result = await purgeCache({ redis: deps.redis, prefix: deps.queues.prefix }, selector, {
        dryRun: dryRun ?? false,
      });
    } catch (error) {
      throw unavailableIfUnreachable(
        'the cache',
        error,
        'part of the purge may be done; send it again shortly (repeating it is safe)',
      );
    }
    const body: CachePurgeResultBody = {
      dryRun: result.dryRun,
      removed: result.removed,
      vectors: result.vectors,
      namespaces: result.namespaces.length,
    };
    return c.json(body);
  });
}
