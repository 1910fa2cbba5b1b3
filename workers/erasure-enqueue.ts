import type { Config } from '../shared/config/load-config.ts';
import { eraseJobToken, eraseUserQueue } from '../shared/erasures/queue.ts';
import { withQueues } from './cli-clients.ts';

/** Enqueues an erasure's `erase-user` run from the CLI; returns its job id. */
export async function enqueueErasure(
  _config: Config,
  erasureId: string,
  deviceCount: number,
): Promise<string> {
  const jobId = `erase-user.cli.${eraseJobToken(erasureId, deviceCount)}`;
  await withQueues((queues) => queues.add(eraseUserQueue, { erasureId }, { jobId }));
  return jobId;
}
