import { Hono } from 'hono';
import { requestErasure } from '../../shared/erasures/ledger.ts';
import { eraseJobToken, eraseUserQueue } from '../../shared/erasures/queue.ts';
import { erasureUserId } from '../../shared/erasures/request-schema.ts';
import { ApiError, unavailableIfUnreachable } from '../api-error.ts';
import { requireScope } from '../auth.ts';
import type { ApiDeps, ApiEnv } from '../deps.ts';
import { newJobId } from '../job-ids.ts';
import { type ErasureAccepted, erasureRequestSchema } from '../schemas.ts';
import { readJson } from '../validation.ts';

/**
 * `DELETE /v1/users/:userId` (admin scope): records an erasure of the user (the ledger keeps a
 * keyed hash of the id) and queues its `erase-user` job; `202` with the erasure id. Asking
 * again while it is open answers the same erasure (and the same job).
 */
export function userRoutes(deps: ApiDeps) {
  return new Hono<ApiEnv>().delete('/users/:userId', async (c) => {
    const key = c.get('apiKey');
    requireScope(key, 'admin');
    const userId = erasureUserId.safeParse(c.req.param('userId'));
    if (!userId.success) {
      throw new ApiError(422, 'invalid_request', `userId ${userId.error.issues[0]?.message}`, {
        field: 'userId',
      });
    }
    const body = await readJson(c, erasureRequestSchema, { emptyAs: {} });
    if (!deps.secretsKey) {
      throw new ApiError(
        503,
        'unavailable',
        'erasures need SECRETS_KEY on the API (the ledger keeps a keyed hash of the user id); set it as the workers have it, or use `lowburn users erase`',
      );
    }
    const devices = body.devices ?? [];
    let accepted: ErasureAccepted;
    try {
      const erasure = await requestErasure(deps.db, {
        userId: userId.data,
        deviceIds: devices,
        requestedBy: `api-key:${key.id}`,
        secretsKey: deps.secretsKey,
      });
      const jobId = newJobId(
        eraseUserQueue.queue,
        key.id,
        eraseJobToken(erasure.id, new Set(devices).size),
      );
      await deps.queues.add(eraseUserQueue, { erasureId: erasure.id }, { jobId });
      accepted = {
        id: erasure.id,
        status: erasure.status,
        created: erasure.created,
        jobId,
        statusUrl: `/v1/jobs/${jobId}`,
      };
    } catch (error) {
      throw unavailableIfUnreachable(
        'the erasure ledger or the queue',
        error,
        'send it again shortly (asking twice is one erasure)',
      );
    }
    return c.json(accepted, 202, { location: accepted.statusUrl });
  });
}
