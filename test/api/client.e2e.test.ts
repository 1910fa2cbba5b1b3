import { Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createClient, LowburnApiError } from '../../api/client/index.ts';
import { useTestApi } from '../fixtures/api-server.ts';

describe('the client against the real API server', () => {
  const t = useTestApi();
  const queue = {
    get generate() {
      return t.queue('generate');
    },
  };

  it('creates a generation that waits in the generate queue, reads its status, and hides it from another key', async () => {
    const owner = await t.api.key(['generate', 'read']);
    const client = createClient({ baseUrl: t.api.url, apiKey: owner.key });
    const accepted = await client.generations.create({
      userId: 'user-7',
      taskType: 'classification',
      prompt: 'Spam or not: WIN A PRIZE',
      metadata: { ticket: 42 },
    });
    expect(accepted.status).toBe('queued');
    const job = await queue.generate.getJob(accepted.id);
    expect(job?.data).toEqual({
      userId: 'user-7',
      taskType: 'classification',
      prompt: 'Spam or not: WIN A PRIZE',
      metadata: { ticket: 42 },
      apiKeyId: owner.id,
      cacheScope: owner.id,
    });
    expect(await client.jobs.get(accepted.id)).toMatchObject({ id: accepted.id, status: 'queued' });

    const stranger = createClient({ baseUrl: t.api.url, apiKey: (await t.api.key(['read'])).key });
    const error = await stranger.jobs.get(accepted.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LowburnApiError);
    expect(error).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('waits for a job a worker completes, and surfaces validation errors with the field', async () => {
    const { key } = await t.api.key(['generate', 'read']);
    const client = createClient({ baseUrl: t.api.url, apiKey: key });
    // A stand-in processor: the generation pipeline arrives in its own issue.
    const connection = t.redis.duplicate();
    const worker = new Worker('generate', async (j) => ({ answer: `done: ${j.data.prompt}` }), {
      connection,
      prefix: t.api.prefix,
    });
    try {
      const { id } = await client.generations.create({
        userId: 'u',
        taskType: 'summary',
        prompt: 'p',
      });
      const done = await client.jobs.wait(id, { timeoutMs: 10_000, pollIntervalMs: 50 });
      expect(done).toMatchObject({ status: 'completed', result: { answer: 'done: p' } });
      expect(done.finishedAt).not.toBeNull();
    } finally {
      await worker.close();
      await connection.quit();
    }
    const invalid = await client.generations
      .create({ userId: 'u', taskType: 'summary' } as never)
      .catch((e: unknown) => e);
    expect(invalid).toMatchObject({ status: 422, code: 'invalid_request', field: 'prompt' });
  });
});
