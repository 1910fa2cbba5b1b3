import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../api/client/index.ts';
import type { ErasureAccepted, JobStatus } from '../../api/schemas.ts';
import { eraseUserJob } from '../../jobs/erase-user/index.ts';
import { findErasure } from '../../shared/erasures/ledger.ts';
import { useTestApi } from '../fixtures/api-server.ts';
import { useWorkerBehindApi } from '../fixtures/api-worker.ts';
import { recordAsk } from '../fixtures/generations.ts';
import { waitUntil } from '../fixtures/wait-until.ts';

describe('DELETE /v1/users/:userId', () => {
  const t = useTestApi();
  useWorkerBehindApi(t, { 'erase-user': eraseUserJob }, () => ({ WORKER_QUEUES: 'erase-user' }));

  const erase = (key: string, userId: string, json?: unknown) =>
    t.api.request(`/v1/users/${encodeURIComponent(userId)}`, {
      method: 'DELETE',
      key,
      ...(json !== undefined && { json }),
    });

  it('needs the admin scope and queues nothing without it', async () => {
    const { key } = await t.api.key(['generate', 'read']);
    const res = await erase(key, 'user-x');
    expect(res.status).toBe(403);
    expect(await t.database.db.selectFrom('erasures').select('id').execute()).toEqual([]);
  });

  it('rejects a user id or devices it cannot take, saying what to fix', async () => {
    const { key } = await t.api.key(['admin']);
    const long = await erase(key, 'u'.repeat(300));
    expect(long.status).toBe(422);
    expect(await long.json()).toMatchObject({ error: { field: 'userId' } });
    const devices = await erase(key, 'user-y', { devices: 'tablet' });
    expect(devices.status).toBe(422);
  });

  it('answers 202 with the erasure, the same one when asked twice, and its job erases the user', async () => {
    const { id: apiKeyId, key } = await t.api.key(['admin']);
    await recordAsk(t.database.db, {
      at: new Date(),
      userId: 'user-z',
      apiKeyId,
      prompt: 'Summarise: my address is 1 Main St.',
    });
    await recordAsk(t.database.db, { at: new Date(), userId: 'user-w', apiKeyId, prompt: 'Hi.' });

    const first = await erase(key, 'user-z');
    expect(first.status).toBe(202);
    const accepted = (await first.json()) as ErasureAccepted;
    expect(accepted).toMatchObject({ status: 'pending', created: true });
    expect(first.headers.get('location')).toBe(`/v1/jobs/${accepted.jobId}`);

    // The typed client: the same erasure back, and the same job.
    const client = createClient({ baseUrl: t.api.url, apiKey: key });
    const again = await client.users.erase('user-z');
    expect(again).toMatchObject({ id: accepted.id, created: false, jobId: accepted.jobId });

    let job: JobStatus | undefined;
    await waitUntil(
      async () => {
        job = await client.jobs.get(accepted.jobId);
        return job.status === 'completed';
      },
      20_000,
      'the erase-user job to complete',
      { explain: async () => JSON.stringify(job) },
    );
    expect(job?.result).toMatchObject({ erasureId: accepted.id, status: 'hot-done' });
    expect((await findErasure(t.database.db, accepted.id))?.status).toBe('hot-done');
    const left = await t.database.db
      .selectFrom('generations')
      .select('user_id')
      .where('user_id', 'in', ['user-z', 'user-w'])
      .execute();
    expect(left).toEqual([{ user_id: 'user-w' }]);
  });

  it("answers the erasure's job to its own key only", async () => {
    const { key } = await t.api.key(['admin']);
    const { key: other } = await t.api.key(['admin', 'read']);
    const accepted = (await (await erase(key, `user-${randomUUID()}`)).json()) as ErasureAccepted;
    const res = await t.api.request(accepted.statusUrl, { key: other });
    expect(res.status).toBe(404);
  });
});
