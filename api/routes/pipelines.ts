import { Hono } from 'hono';
import { InvalidPayloadError } from '../../shared/errors/invalid-payload-error.ts';
import { ApiError, unavailableIfUnreachable } from '../api-error.ts';
import { requireScope } from '../auth.ts';
import type { ApiDeps, ApiEnv } from '../deps.ts';
import { newJobId } from '../job-ids.ts';
import { type Accepted, pipelineRunRequestSchema } from '../schemas.ts';
import { readJson } from '../validation.ts';

/** `POST /v1/pipelines/:name/runs`: run a scheduled job now (admin scope). */
export function pipelineRoutes(deps: ApiDeps) {
  return new Hono<ApiEnv>().post('/pipelines/:name/runs', async (c) => {
    const key = c.get('apiKey');
    requireScope(key, 'admin');
    const name = c.req.param('name');
    // Own keys only: "constructor" or "__proto__" must be a 404, not Object.prototype.
    const contract = Object.hasOwn(deps.pipelines, name) ? deps.pipelines[name] : undefined;
    if (!contract) {
      throw new ApiError(
        404,
        'not_found',
        `no pipeline "${name}"; pipelines: ${Object.keys(deps.pipelines).join(', ')}`,
      );
    }
    // No body at all means "no payload"; readJson handles that for any transfer encoding.
    const body = await readJson(c, pipelineRunRequestSchema, { emptyAs: {} });
    const jobId = newJobId(contract.queue, key.id);
    try {
      await deps.queues.add(contract, body.payload ?? {}, { jobId });
    } catch (error) {
      if (error instanceof InvalidPayloadError) {
        const issue = error.issues[0];
        const field = ['payload', issue?.field].filter(Boolean).join('.');
        throw new ApiError(422, 'invalid_request', `${field}: ${issue?.message ?? 'invalid'}`, {
          field,
        });
      }
      throw unavailableIfUnreachable('the queue', error);
    }
    const accepted: Accepted = { id: jobId, status: 'queued', statusUrl: `/v1/jobs/${jobId}` };
    return c.json(accepted, 202, { location: accepted.statusUrl });
  });
}
