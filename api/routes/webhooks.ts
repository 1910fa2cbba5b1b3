import { Hono } from 'hono';
import { DELIVERY_ID } from '../../shared/webhooks/queue.ts';
import { replayDeliveries } from '../../shared/webhooks/replay.ts';
import { ApiError, unavailableIfUnreachable } from '../api-error.ts';
import { requireScope } from '../auth.ts';
import type { ApiDeps, ApiEnv } from '../deps.ts';
import type { WebhookReplay } from '../schemas.ts';

/**
 * `POST /v1/webhooks/:id/replay` (admin scope): sends a delivery again, same `webhook-id`, on a
 * fresh retry schedule — a dead letter after the receiver is fixed, or a delivered event the
 * receiver lost. Replaying a `disabled` delivery re-enables its URL for its key.
 */
export function webhookRoutes(deps: ApiDeps) {
  return new Hono<ApiEnv>().post('/webhooks/:id/replay', async (c) => {
    requireScope(c.get('apiKey'), 'admin');
    const id = c.req.param('id');
    const notFound = new ApiError(404, 'not_found', `no webhook delivery "${id}"`);
    // Checked before the query: the id goes into a job id, and nothing else can match.
    if (!DELIVERY_ID.test(id)) throw notFound;
    let replayed: Awaited<ReturnType<typeof replayDeliveries>>;
    try {
      // Postgres only: the dispatcher queues the replayed delivery within a second.
      replayed = await replayDeliveries({ db: deps.db }, [id]);
    } catch (error) {
      throw unavailableIfUnreachable('the webhook ledger', error);
    }
    const [delivery] = replayed;
    if (!delivery) throw notFound;
    const body: WebhookReplay = {
      id: delivery.id,
      status: 'pending',
      run: delivery.run,
      previousStatus: delivery.previousStatus,
    };
    return c.json(body, 202);
  });
}
