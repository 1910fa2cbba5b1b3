import { Queue } from 'bullmq';
import { type Clock, createClock } from '../../shared/clock.ts';
import type { Config } from '../../shared/config/load-config.ts';
import type { Logger } from '../../shared/log/logger.ts';
import { type AnyJobDefinition, resolveSchedule } from '../../shared/queue/job-definition.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import { scanKeys } from '../../shared/redis/scan-keys.ts';
import { compressedRepeat } from './compressed-schedule.ts';

/** The scheduler id of a job: one scheduler per job, named after its queue. */
const schedulerId = (definition: AnyJobDefinition) => definition.queue;

/**
 * Makes Redis hold exactly the schedules the catalog defines. Upserting a BullMQ job scheduler
 * is idempotent, so every worker can run this at boot and a cron still fires once per fleet.
 * Schedulers of jobs that no longer exist (or no longer have a schedule) are removed.
 * On the compressed clock (`CLOCK_RATE` ≠ 1, benchmarks and tests only) each cron runs at its
 * simulated times instead (see compressed-schedule.ts); at rate 1 the schedules are the cron.
 */
export async function syncSchedulers(options: {
  connection: RedisClient;
  prefix: string;
  jobs: readonly AnyJobDefinition[];
  config: Config;
  log: Logger;
}): Promise<{ upserted: string[]; removed: string[] }> {
  const { connection, prefix, log } = options;
  const upserted: string[] = [];
  const removed: string[] = [];
  const clock = createClock(options.config.clock);
  const known = new Map(options.jobs.map((job) => [job.queue, job]));
  const queueNames = new Set([
    ...known.keys(),
    ...(await queuesWithSchedulers(connection, prefix)),
  ]);

  for (const name of queueNames) {
    const definition = known.get(name);
    const queue = new Queue(name, { connection, prefix });
    try {
      const schedule = definition && resolveSchedule(definition, options.config);
      const wanted = definition && schedule ? schedulerId(definition) : undefined;
      for (const existing of await queue.getJobSchedulers()) {
        if (existing.key !== wanted) {
          await queue.removeJobScheduler(existing.key);
          removed.push(`${name}/${existing.key}`);
        }
      }
      if (schedule && wanted) {
        const { payload = {}, ...when } = schedule;
        const repeat =
          'cron' in when
            ? cronRepeat(name, when.cron, when.tz ?? options.config.worker.scheduleTz, clock)
            : { every: when.every };
        await queue.upsertJobScheduler(wanted, repeat, { name, data: payload });
        upserted.push(name);
      }
    } finally {
      await queue.close();
    }
  }
  if (removed.length > 0) log.info({ removed }, 'removed schedules of jobs that no longer exist');
  return { upserted, removed };
}

/** A cron's repeat options: the pattern itself, or its simulated times on the compressed clock. */
function cronRepeat(job: string, pattern: string, tz: string, clock: Clock) {
  return clock.rate === 1 ? { pattern, tz } : compressedRepeat(job, pattern, tz, clock);
}

/** Queue names under `prefix` that have a job-scheduler set in Redis. */
async function queuesWithSchedulers(connection: RedisClient, prefix: string): Promise<string[]> {
  const names = new Set<string>();
  const head = `${prefix}:`;
  for await (const keys of scanKeys(connection, `${head}*:repeat`)) {
    for (const key of keys) {
      const name = key.slice(head.length, -':repeat'.length);
      if (name && !name.includes(':')) names.add(name);
    }
  }
  return [...names];
}
