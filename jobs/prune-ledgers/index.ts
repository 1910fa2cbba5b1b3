import { z } from 'zod';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { prunedRowsCounter } from './metrics.ts';
import { pruneLedgers } from './prune-ledgers.ts';

// Well inside the job's timeout: the statement in flight when the budget runs out still ends.
const BUDGET_MS = 5 * 60_000;

/**
 * Keeps the ledgers from growing forever: deletes finished webhook deliveries older than
 * `WEBHOOK_RETENTION` (their attempts go with them) and expired idempotency keys, in bounded
 * batches; see `prune-ledgers.ts`. A run that hits its budget leaves the rest to the next one.
 */
export const pruneLedgersJob = defineJob({
  queue: 'prune-ledgers',
  description:
    'Delete finished webhook deliveries older than WEBHOOK_RETENTION (with their attempts) and expired idempotency keys, 5,000 rows per statement.',
  schema: z.object({}).strict(),
  options: { attempts: 3, backoffMs: 60_000, timeoutMs: 10 * 60_000, concurrency: 1 },
  schedule: { cron: '20 1 * * *', tz: 'UTC' },
  async process(_payload, { deps, signal, log }) {
    const result = await pruneLedgers({
      db: deps.db,
      webhookRetentionMs: deps.config.webhooks.retentionMs,
      budgetMs: BUDGET_MS,
      signal,
    });
    const pruned = prunedRowsCounter(deps.metrics);
    pruned.inc({ ledger: 'webhook_deliveries' }, result.deliveries);
    pruned.inc({ ledger: 'idempotency_keys' }, result.idempotencyKeys);
    if (!result.done)
      log.warn(
        result,
        'stopped (budget spent or shutting down) with ledger rows left; the next run goes on',
      );
    else if (result.deliveries + result.idempotencyKeys > 0) log.info(result, 'pruned ledgers');
    return result;
  },
});
