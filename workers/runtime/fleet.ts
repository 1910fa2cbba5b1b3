import { Worker } from 'bullmq';
import type { Logger } from '../../shared/log/logger.ts';
import type { WorkerMetrics } from '../../shared/metrics/registry.ts';
import { createProcessor } from '../../shared/queue/create-processor.ts';
import { resolveJobOptions } from '../../shared/queue/default-options.ts';
import type { AnyJobDefinition, JobDeps } from '../../shared/queue/job-definition.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';

/** The BullMQ workers of one process, and the drain that stops them. */
export interface Fleet {
  workers: Worker[];
  /**
   * Stops taking jobs and lets active ones finish for up to `graceMs`; then aborts them with a
   * shutdown reason so they are handed back to the queue, and closes.
   */
  drain(graceMs: number): Promise<{ handedBack: number }>;
}

export function startFleet(options: {
  jobs: readonly AnyJobDefinition[];
  deps: JobDeps;
  connection: RedisClient;
  prefix: string;
  concurrency: number | undefined;
  metrics: WorkerMetrics;
  log: Logger;
}): Fleet {
  const { deps, metrics, log } = options;
  const shutdown = new AbortController();
  const active = new Set<string>();
  const workers = options.jobs.map((definition) => {
    const { concurrency } = resolveJobOptions(definition.options);
    const worker = new Worker(
      definition.queue,
      createProcessor(definition, deps, shutdown.signal),
      {
        connection: options.connection,
        prefix: options.prefix,
        concurrency: options.concurrency ?? concurrency,
        autorun: true,
      },
    );
    const queue = definition.queue;
    worker.on('active', (job) => active.add(`${queue}/${job.id}`));
    worker.on('completed', (job) => {
      active.delete(`${queue}/${job.id}`);
      metrics.completed.inc({ queue });
      if (job.processedOn && job.finishedOn) {
        metrics.duration.observe({ queue }, (job.finishedOn - job.processedOn) / 1000);
      }
      log.debug({ queue, jobId: job.id }, 'job completed');
    });
    worker.on('failed', (job, error) => {
      if (job) active.delete(`${queue}/${job.id}`);
      metrics.failed.inc({ queue, reason: error.name });
      log.warn(
        { queue, jobId: job?.id, attemptsMade: job?.attemptsMade, err: error },
        'job attempt failed',
      );
    });
    worker.on('error', (error) => log.error({ queue, err: error }, 'worker error'));
    return worker;
  });

  return {
    workers,
    async drain(graceMs) {
      const closing = Promise.all(workers.map((w) => w.close()));
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => {
        timer = setTimeout(() => resolve('grace-over'), graceMs);
      });
      const outcome = await Promise.race([closing.then(() => 'drained' as const), graceOver]);
      clearTimeout(timer);
      if (outcome === 'drained') return { handedBack: 0 };
      const handedBack = active.size;
      log.warn({ jobs: [...active] }, 'grace period over; handing active jobs back to the queue');
      shutdown.abort();
      // A processor that ignores its signal still settles through the wrapper's race; if even
      // that hangs, force-close and let the stalled-job check give the job to another worker.
      const forced = await Promise.race([
        closing.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 5_000).unref()),
      ]);
      if (forced) await Promise.all(workers.map((w) => w.close(true)));
      return { handedBack };
    },
  };
}
