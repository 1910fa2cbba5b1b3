import { z } from 'zod';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { dispatchDue } from './dispatch-due.ts';
import { dispatchMetrics, storeLag } from './metrics.ts';

/**
 * Every `WEBHOOK_DISPATCH_EVERY` (1 s), once per fleet: queues the webhook deliveries that wait
 * in Postgres — retries that came due, deliveries that found their endpoint's slots taken,
 * replays — into their endpoints' free slots, and measures how long the oldest of them has
 * waited (`lowburn_webhook_queue_lag_seconds`). The deliveries' own jobs also pull their
 * endpoint's next ones when they end; this run is what starts an idle endpoint's due retries.
 */
export const dispatchWebhooksJob = defineJob({
  queue: 'dispatch-webhooks',
  description:
    'Queue due webhook deliveries waiting in Postgres (retries, over-cap, replays) into their endpoints’ free slots; measure the lag.',
  schema: z.object({}).strict(),
  // A run that fails is repeated by the next period: no retries. A run a second keeps few.
  options: {
    attempts: 1,
    timeoutMs: 30_000,
    concurrency: 1,
    keepCompleted: { age: 3_600, count: 100 },
    keepFailed: { age: 86_400, count: 100 },
  },
  schedule: (config) => ({ every: config.webhooks.dispatchEveryMs }),
  async process(_payload, { deps, log }) {
    dispatchMetrics(deps.metrics, deps.redis, deps.config.queuePrefix);
    const result = await dispatchDue(deps);
    await storeLag(deps.redis, deps.config.queuePrefix, result.lagSeconds);
    if (result.orphans > 0) {
      log.warn({ orphans: result.orphans }, 'ended pending webhooks of deleted API keys');
    }
    return result;
  },
});
