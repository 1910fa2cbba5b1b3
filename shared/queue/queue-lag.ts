import { type Job, Queue } from 'bullmq';
import type { RedisClient } from '../redis/connections.ts';

// A prioritized set is ordered by priority, not by age: the first this many are read for the
// oldest (enough for the few priorities lowburn uses; a scan of a long backlog is not).
const PRIORITIZED_READ = 100;

/** When a job became ready to run: added, plus its delay if it had one. */
const readySince = (job: Job) => job.timestamp + (job.opts.delay ?? 0);

/**
 * The age in ms of the oldest job of `queue` waiting for a worker (its lag; 0 when none waits):
 * the oldest of the wait list, and the oldest of the first prioritized jobs.
 */
export async function oldestWaitingMs(queue: Queue, now = Date.now()): Promise<number> {
  const [waiting, prioritized] = await Promise.all([
    queue.getJobs(['waiting'], 0, 0, true),
    queue.getJobs(['prioritized'], 0, PRIORITIZED_READ - 1, true),
  ]);
  let oldest = now;
  for (const job of [...waiting, ...prioritized]) {
    if (job) oldest = Math.min(oldest, readySince(job as Job));
  }
  return Math.max(0, now - oldest);
}

/**
 * Runs `use` with a BullMQ queue per name on the shared connection, closed afterwards (closing
 * a queue leaves a shared connection open).
 */
export async function withQueues<T>(
  connection: RedisClient,
  prefix: string,
  names: readonly string[],
  use: (queues: Queue[]) => Promise<T>,
): Promise<T> {
  const queues = names.map((name) => new Queue(name, { connection, prefix }));
  for (const queue of queues) queue.on('error', () => {});
  try {
    return await use(queues);
  } finally {
    await Promise.allSettled(queues.map((queue) => queue.close()));
  }
}
