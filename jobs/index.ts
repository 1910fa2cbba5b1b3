import { defineCatalog } from '../shared/queue/job-definition.ts';
import { maintainPartitions } from './maintain-partitions/index.ts';

/**
 * Every job lowburn runs. Adding a job = one folder under `jobs/` and one line here; the
 * worker, the board, the scheduler and the CLI all read this catalog.
 */
export const jobs = defineCatalog({
  'maintain-partitions': maintainPartitions,
});

export type Jobs = typeof jobs;
export type QueueName = keyof Jobs;
