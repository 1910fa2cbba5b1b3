import { sql } from 'kysely';
import { oldestWaitingMs, withQueues } from '../../queue/queue-lag.ts';
import { bufferStats } from '../../telemetry/buffer.ts';
import type { AlertCondition } from '../alert-condition.ts';
import { OPERATOR_KEY_ID } from '../operator-key.ts';

const DAY_MS = 86_400_000;
/** Queue lag past this fires `queue-lag`. */
export const QUEUE_LAG_LIMIT_MS = 60_000;

/**
 * A dead letter in the last 24 h: a webhook delivery dead-lettered (its schedule exhausted) or a
 * BullMQ job failed for good (in a queue's failed set). Resolves once none is left: the
 * deliveries replayed, the jobs retried or removed, or a day passed. The operator events' own
 * deliveries are left out: an alert about them would go to the endpoint that is failing.
 */
export const deadLetters: AlertCondition = {
  id: 'dead-letter',
  description: 'A webhook delivery was dead-lettered or a job failed for good (last 24 h)',
  async evaluate({ db, redis, config, queueNames, now }) {
    const since = new Date(now.getTime() - DAY_MS);
    const { count } = await db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('status', '=', 'dead')
      .where('updated_at', '>=', since)
      .where(sql<boolean>`api_key_id IS DISTINCT FROM ${OPERATOR_KEY_ID}::uuid`)
      .executeTakeFirstOrThrow();
    const failedJobs = await withQueues(redis, config.queuePrefix, queueNames, (queues) =>
      Promise.all(
        queues.map(async (queue) => {
          const [newest] = await queue.getJobs(['failed'], 0, 0, false);
          return newest?.finishedOn && newest.finishedOn >= since.getTime() ? queue.name : '';
        }),
      ),
    );
    const queuesWithFailures = failedJobs.filter(Boolean);
    return {
      firing: Number(count) > 0 || queuesWithFailures.length > 0,
      details: { deadDeliveries: Number(count), queuesWithFailedJobs: queuesWithFailures },
    };
  },
};

/** The nightly jobs whose runs are watched (their schedulers are named after their queues). */
export const nightlyQueues = [
  'export-cold',
  'precompute-cache',
  'export-finetune',
  'rollup-usage',
] as const;

/**
 * A nightly job missed (its scheduler's next run is more than `ALERT_JOB_GRACE` past its time
 * and no worker has started it) or failed (its newest finished run failed for good).
 */
export const nightlyJobs: AlertCondition = {
  id: 'nightly-job',
  description: 'A nightly job (export, precompute, fine-tune, rollup) missed its slot or failed',
  async evaluate({ redis, config, now }) {
    const problems = await withQueues(redis, config.queuePrefix, nightlyQueues, (queues) =>
      Promise.all(
        queues.map(async (queue) => {
          const scheduler = await queue.getJobScheduler(queue.name);
          const due = scheduler?.next;
          if (due !== undefined && now.getTime() - due > config.alerts.jobGraceMs) {
            return { job: queue.name, problem: 'missed', due: new Date(due).toISOString() };
          }
          const [[failed], [completed]] = await Promise.all([
            queue.getJobs(['failed'], 0, 0, false),
            queue.getJobs(['completed'], 0, 0, false),
          ]);
          if (failed?.finishedOn && failed.finishedOn > (completed?.finishedOn ?? 0)) {
            return {
              job: queue.name,
              problem: 'failed',
              at: new Date(failed.finishedOn).toISOString(),
              error: failed.failedReason,
            };
          }
          return undefined;
        }),
      ),
    );
    const found = problems.filter((p) => p !== undefined);
    return { firing: found.length > 0, details: { jobs: found } };
  },
};

/** A queue's oldest waiting job has waited more than 60 s for a worker. */
export const queueLag: AlertCondition = {
  id: 'queue-lag',
  description: 'A queue’s oldest waiting job has waited over 60 s',
  async evaluate({ redis, config, queueNames, now }) {
    const lags = await withQueues(redis, config.queuePrefix, queueNames, (queues) =>
      Promise.all(
        queues.map(async (q) => ({
          queue: q.name,
          lagSeconds: (await oldestWaitingMs(q, now.getTime())) / 1000,
        })),
      ),
    );
    const lagging = lags.filter((l) => l.lagSeconds * 1000 > QUEUE_LAG_LIMIT_MS);
    return { firing: lagging.length > 0, details: { limitSeconds: 60, lagging } };
  },
};

/** The telemetry buffer (the Redis stream) holds over half of `TELEMETRY_BUFFER_CAP`. */
export const telemetryBufferHigh: AlertCondition = {
  id: 'telemetry-buffer-high',
  description: 'The telemetry buffer holds over half its cap (TELEMETRY_BUFFER_CAP)',
  async evaluate({ redis, config, now }) {
    const { depth, oldestAgeMs } = await bufferStats(redis, config.queuePrefix, now.getTime());
    const cap = config.telemetry.bufferCap;
    return {
      firing: depth > cap / 2,
      details: { depth, cap, oldestSeconds: Math.round(oldestAgeMs / 1000) },
    };
  },
};
