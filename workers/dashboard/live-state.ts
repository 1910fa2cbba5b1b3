import type { Queue } from 'bullmq';
import type { RedisClient } from '../../shared/redis/connections.ts';
import { infoOfEach } from '../../shared/redis/scan-keys.ts';
import { bufferStats } from '../../shared/telemetry/buffer.ts';

/** A queue's counts now, and how long its oldest waiting job has waited. */
export interface QueueState {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  /** Seconds the oldest waiting job has waited (0 with none waiting). */
  lagS: number;
}

/** The queues' counts and lag, all queues at once (BullMQ pipelines each queue's reads). */
export async function queueStates(queues: Queue[], now: number): Promise<QueueState[]> {
  return Promise.all(
    queues.map(async (queue) => {
      const [counts, oldest] = await Promise.all([
        queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'),
        // Waiting jobs are pushed on the left: the oldest is the list's last.
        queue.getJobs(['wait', 'prioritized'], 0, 0, true),
      ]);
      const first = oldest[0];
      return {
        queue: queue.name,
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
        lagS: first ? Math.max(0, Math.round((now - first.timestamp) / 1000)) : 0,
      };
    }),
  );
}

/** A scheduled job's last finished run and its next. */
export interface JobRun {
  queue: string;
  lastAt: Date | null;
  outcome: 'completed' | 'failed' | 'never run';
  detail: string;
  nextAt: Date | null;
}

/** The last finished run (completed or failed, whichever is later) and the scheduler's next. */
export async function lastRun(queue: Queue): Promise<JobRun> {
  const [completed, failed, schedulers] = await Promise.all([
    queue.getJobs(['completed'], 0, 0),
    queue.getJobs(['failed'], 0, 0),
    queue.getJobSchedulers(0, 0),
  ]);
  const c = completed[0];
  const f = failed[0];
  const next = schedulers[0]?.next;
  const nextAt = next ? new Date(next) : null;
  const last = !c ? f : !f ? c : (f.finishedOn ?? 0) > (c.finishedOn ?? 0) ? f : c;
  if (!last) return { queue: queue.name, lastAt: null, outcome: 'never run', detail: '', nextAt };
  const outcome = last === f ? 'failed' : 'completed';
  return {
    queue: queue.name,
    lastAt: new Date(last.finishedOn ?? last.timestamp),
    outcome,
    detail: outcome === 'failed' ? (last.failedReason ?? '') : '',
    nextAt,
  };
}

/**
 * Redis's `maxmemory` (0: none set). On a cluster the smallest a master has: the fleet's keys share
 * one hash tag, so one master holds them all, and the tightest bound is the safe one to show.
 */
export async function redisMaxMemory(redis: RedisClient): Promise<number> {
  const limits = (await infoOfEach(redis, 'memory'))
    .map((info) => Number(/^maxmemory:(\d+)/m.exec(info)?.[1] ?? 0))
    .filter((limit) => limit > 0);
  return limits.length === 0 ? 0 : Math.min(...limits);
}

/** Unflushed telemetry pings against the cap the API refuses past. */
export async function telemetryBuffer(
  redis: RedisClient,
  prefix: string,
  cap: number,
): Promise<{ depth: number; cap: number; oldestAgeMs: number }> {
  const stats = await bufferStats(redis, prefix);
  return { ...stats, cap };
}
