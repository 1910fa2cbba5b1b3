import { defineCatalog, type QueueContract } from '../shared/queue/job-definition.ts';
import { applyErasuresJob } from './apply-erasures/index.ts';
import { auditCacheJob } from './audit-cache/index.ts';
import { checkAlertsJob } from './check-alerts/index.ts';
import { deliverWebhookJob } from './deliver-webhook/index.ts';
import { dispatchWebhooksJob } from './dispatch-webhooks/index.ts';
import { eraseUserJob } from './erase-user/index.ts';
import { exportColdJob } from './export-cold/index.ts';
import { exportFinetuneJob } from './export-finetune/index.ts';
import { flushTelemetryJob } from './flush-telemetry/index.ts';
import { generateJob } from './generate/index.ts';
import { maintainPartitions } from './maintain-partitions/index.ts';
import { precomputeCacheJob } from './precompute-cache/index.ts';
import { pruneLedgersJob } from './prune-ledgers/index.ts';
import { rollupUsageJob } from './rollup-usage/index.ts';
import { sendDigestJob } from './send-digest/index.ts';
import { shadowCompareJob } from './shadow-compare/index.ts';

/**
 * Every job lowburn runs. Adding a job = one folder under `jobs/` and one line here; the
 * worker, the board, the scheduler and the CLI all read this catalog.
 */
export const jobs = defineCatalog({
  'maintain-partitions': maintainPartitions,
  'flush-telemetry': flushTelemetryJob,
  'export-cold': exportColdJob,
  'deliver-webhook': deliverWebhookJob,
  'dispatch-webhooks': dispatchWebhooksJob,
  'prune-ledgers': pruneLedgersJob,
  generate: generateJob,
  'precompute-cache': precomputeCacheJob,
  'audit-cache': auditCacheJob,
  'shadow-compare': shadowCompareJob,
  'rollup-usage': rollupUsageJob,
  'export-finetune': exportFinetuneJob,
  'check-alerts': checkAlertsJob,
  'send-digest': sendDigestJob,
  'erase-user': eraseUserJob,
  'apply-erasures': applyErasuresJob,
});

export type Jobs = typeof jobs;
export type QueueName = keyof Jobs;

/** Every queue that can be fed: the API, the board and `lowburn run` read this; workers read `jobs`. */
export const queues: Record<string, QueueContract> = jobs;
