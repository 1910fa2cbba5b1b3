import { UnrecoverableError } from 'bullmq';
import { applyErasuresQueue, eraseUserQueue } from '../../shared/erasures/queue.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { eraseUser } from './erase-user.ts';
import { ExportInProgressError } from './export-in-progress-error.ts';

// An export writes a day in minutes; one that failed is retried by the next night's run.
const EXPORT_WAIT_MS = 3 * 86_400_000;

/**
 * The "at once" part of erasing a user (see `erase-user.ts`): recorded by `lowburn users erase`
 * or `DELETE /v1/users/:userId`, done in minutes, rerun safely; the erasure is then `hot-done`
 * and its cold files wait for the cold side.
 */
export const eraseUserJob = defineJob({
  ...eraseUserQueue,
  waitsOut: (error) =>
    error instanceof ExportInProgressError
      ? { reason: 'export_in_progress', forMs: EXPORT_WAIT_MS }
      : undefined,
  async process(payload, { deps, log }) {
    const secretsKey = deps.config.secrets.key;
    if (!secretsKey) {
      throw new UnrecoverableError('erasing needs SECRETS_KEY on this worker (it keys the ledger)');
    }
    const result = await eraseUser(
      { db: deps.db, redis: deps.redis, prefix: deps.config.queuePrefix, secretsKey, log },
      payload.erasureId,
    ).catch((error: unknown) => {
      if (error instanceof Error && error.message.startsWith('no erasure ')) {
        throw new UnrecoverableError(error.message);
      }
      throw error;
    });
    // `--apply-now`: the cold side at once, for every erasure whose hot side is done. One
    // apply-erasures per erasure asked this way (a batch already running takes it next time).
    let applyJobId: string | undefined;
    if (payload.applyNow && result.status === 'hot-done') {
      applyJobId = `apply-erasures.now.${payload.erasureId.replaceAll('-', '')}`;
      await deps.enqueue(applyErasuresQueue, {}, { jobId: applyJobId });
    }
    // The job's result (shown by GET /v1/jobs/:id) leaves the digests to the ledger.
    const {
      cacheKeys: _k,
      jobIds: _j,
      ...hot
    } = (result.counts.hot ?? {}) as Record<string, unknown>;
    return {
      erasureId: result.erasureId,
      status: result.status,
      hot,
      ...(applyJobId && { applyJobId }),
    };
  },
});
