import { defineCatalog, type QueueContract } from '../shared/queue/job-definition.ts';
import { exportColdJob } from './export-cold/index.ts';
import { flushTelemetryJob } from './flush-telemetry/index.ts';
import { generateQueue } from './generate/index.ts';
import { maintainPartitions } from './maintain-partitions/index.ts';

/**
 * Every job lowburn runs. Adding a job = one folder under `jobs/` and one line here; the
 * worker, the board, the scheduler and the CLI all read this catalog.
 */
export const jobs = defineCatalog({
  'maintain-partitions': maintainPartitions,
  'flush-telemetry': flushTelemetryJob,
  'export-cold': exportColdJob,
});

export type Jobs = typeof jobs;
export type QueueName = keyof Jobs;

/**
 * Every queue that can be fed: the catalog's jobs plus queues whose processor has not landed yet
 * (their jobs wait until it does). The API and the board read this; workers read `jobs`.
 */
export const queues: Record<string, QueueContract> = {
  ...jobs,
  generate: generateQueue,
};
