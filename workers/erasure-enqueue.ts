import type { Config } from '../shared/config/load-config.ts';
import { applyErasuresQueue, eraseJobToken, eraseUserQueue } from '../shared/erasures/queue.ts';
import { withQueues } from './cli-clients.ts';

/**
 * Enqueues an erasure's `erase-user` run from the CLI; returns its job id. `applyNow`: the job
 * then enqueues `apply-erasures` once the hot side is done (a job of its own, so asking again
 * with it after a plain request still applies it).
 */
export async function enqueueErasure(
  _config: Config,
  erasureId: string,
  deviceCount: number,
  applyNow = false,
): Promise<string> {
  const jobId = `erase-user.cli.${eraseJobToken(erasureId, deviceCount, applyNow)}`;
  await withQueues((queues) =>
    queues.add(eraseUserQueue, { erasureId, ...(applyNow && { applyNow }) }, { jobId }),
  );
  return jobId;
}

/** `lowburn users erase --apply-now` alone: the cold side now, for every erasure waiting for it. */
export async function enqueueApplyErasures(): Promise<string> {
  const jobId = `apply-erasures.cli.${Date.now()}`;
  await withQueues((queues) => queues.add(applyErasuresQueue, {}, { jobId }));
  return jobId;
}
