import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import { currentWaiting, progressWithoutWaiting } from '../../shared/queue/outage-wait.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import { ApiError, unavailableIfUnreachable } from '../api-error.ts';
import type { ApiDeps, ApiEnv } from '../deps.ts';
import { ownerTag, parseJobId } from '../job-ids.ts';
import type { JobState, JobStatus } from '../schemas.ts';

const STATES: Record<string, JobState> = {
  completed: 'completed',
  failed: 'failed',
  active: 'active',
};

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

/**
 * When a delayed job runs next: its score in the queue's delayed set, which BullMQ writes as the
 * run time in ms × 0x1000 plus a counter (`getDelayedScore.lua`).
 */
async function nextAttemptAt(redis: RedisClient, queue: Queue, id: string): Promise<string | null> {
  const score = await redis.zscore(queue.keys.delayed ?? '', id);
  return score === null ? null : iso(Math.floor(Number(score) / 0x1000));
}

/** `GET /v1/jobs/:id`: status of a job this key created; any other id is 404. */
export function jobRoutes(deps: ApiDeps) {
  return new Hono<ApiEnv>().get('/jobs/:id', async (c) => {
    const key = c.get('apiKey');
    const id = c.req.param('id');
    const parsed = parseJobId(id);
    const contract =
      parsed && Object.hasOwn(deps.contracts, parsed.queue)
        ? deps.contracts[parsed.queue]
        : undefined;
    const notFound = new ApiError(404, 'not_found', `no job "${id}" for this API key`);
    if (!parsed || !contract || parsed.owner !== ownerTag(key.id)) throw notFound;
    let status: JobStatus;
    try {
      const queue = deps.queues.get(contract);
      let job = await queue.getJob(id);
      if (!job) throw notFound;
      const state = await job.getState();
      // The job finished between the two reads: read it again, or a completed job would show
      // no result.
      if ((state === 'completed' || state === 'failed') && !job.finishedOn) {
        job = (await queue.getJob(id)) ?? job;
      }
      const queued = !(state in STATES);
      const waiting = queued ? currentWaiting(job.progress) : undefined;
      // Waiting for its next attempt after a failed one (an outage wait says so apart).
      const retrying = state === 'delayed' && !waiting && job.attemptsMade > 0;
      status = {
        id,
        queue: contract.queue,
        status: retrying ? 'retrying' : (STATES[state] ?? 'queued'),
        ...(retrying && {
          retry: {
            attemptsMade: job.attemptsMade,
            attempts: job.opts.attempts ?? 1,
            nextAttemptAt: await nextAttemptAt(deps.redis, queue, id),
          },
        }),
        progress: progressWithoutWaiting(job.progress) as JobStatus['progress'],
        result: job.returnvalue ?? null,
        error: state === 'failed' ? job.failedReason || 'failed' : null,
        lastError: queued ? (waiting?.lastError ?? (job.failedReason || null)) : null,
        waiting: waiting
          ? {
              reason: waiting.reason,
              since: waiting.since,
              retryAt: waiting.retryAt,
              until: waiting.until,
            }
          : null,
        createdAt: new Date(job.timestamp).toISOString(),
        finishedAt: state === 'completed' || state === 'failed' ? iso(job.finishedOn) : null,
      };
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw unavailableIfUnreachable('the queue', error);
    }
    return c.json(status, 200);
  });
}
