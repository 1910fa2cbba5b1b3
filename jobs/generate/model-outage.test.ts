import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStatus } from '../../api/schemas.ts';
import { useTestApi } from '../../test/fixtures/api-server.ts';
import { useWorkerBehindApi } from '../../test/fixtures/api-worker.ts';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { startTcpProxy } from '../../test/fixtures/tcp-proxy.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { generateJob } from './index.ts';

/**
 * A model server that refuses connections is an outage the job waits out for MODEL_OUTAGE_WAIT,
 * visibly and without spending attempts; it is not a database outage (an hour of silence).
 */
describe('a generation while no model server can be reached', () => {
  const t = useTestApi();
  let ollama: ModelTestServer;
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  beforeAll(async () => {
    ollama = await startOllamaServer();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(ollama.url).port) });
  });
  afterAll(async () => {
    await proxy?.close();
    await ollama?.close();
  });
  useWorkerBehindApi(t, { generate: generateJob }, () => ({
    OLLAMA_URL: `http://127.0.0.1:${proxy.port}`,
    MODEL_OUTAGE_WAIT: '4s',
  }));

  async function generate(key: string, prompt: string) {
    const res = await t.api.request('/v1/generations', {
      key,
      json: { userId: 'u', taskType: 'summary', prompt, webhookUrl: 'https://hooks.example.com/x' },
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }
  const status = async (key: string, id: string) =>
    (await (await t.api.request(`/v1/jobs/${id}`, { key })).json()) as JobStatus;
  const waitingFor = (key: string, id: string) =>
    waitUntil(async () => Boolean((await status(key, id)).waiting), 5_000, 'a waiting status');

  it('waits, says why with the last error, and answers once the server is back', async () => {
    const { key } = await t.api.key(['generate', 'read']);
    await proxy.cut();
    const id = await generate(key, 'Summarise: the server was restarting.');
    await waitingFor(key, id);
    const waiting = await status(key, id);
    expect(waiting).toMatchObject({
      status: 'queued',
      error: null,
      lastError: expect.stringMatching(/local model at .* is unreachable .*OLLAMA_URL/),
      waiting: { reason: 'model_unreachable', until: expect.any(String) },
      progress: 0,
    });
    expect((await t.queue('generate').getJob(id))?.attemptsMade).toBe(0);

    await proxy.restore();
    await waitUntil(async () => (await status(key, id)).status === 'completed', 15_000, 'done');
    expect(await status(key, id)).toMatchObject({ lastError: null, waiting: null, progress: 0 });
    const row = await t.database.db
      .selectFrom('generations')
      .select(['status', 'route'])
      .where('id', '=', id)
      .executeTakeFirst();
    expect(row).toEqual({ status: 'completed', route: 'local' });
  });

  it('fails as usual after MODEL_OUTAGE_WAIT, recording the row and the failed webhook', async () => {
    const { key } = await t.api.key(['generate', 'read']);
    await proxy.cut();
    const started = Date.now();
    const id = await generate(key, 'Summarise: the server never came back.');
    await waitingFor(key, id);
    await waitUntil(async () => (await status(key, id)).status === 'failed', 25_000, 'failed');
    // The wait (4 s) and then its three attempts, not an hour of store-outage waits.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_000);
    expect(await status(key, id)).toMatchObject({
      error: expect.stringContaining('is unreachable'),
      waiting: null,
    });
    const [row] = await t.database.db
      .selectFrom('generations')
      .select(['status', 'error'])
      .where('id', '=', id)
      .execute();
    expect(row?.status).toBe('failed');
    const delivery = await t.database.db
      .selectFrom('webhook_deliveries')
      .select('event_type')
      .where('job_id', '=', id)
      .executeTakeFirst();
    expect(delivery?.event_type).toBe('generation.failed');
    await proxy.restore();
  });

  it('shows a job between two attempts as retrying, with the last error and the next attempt', async () => {
    const { key } = await t.api.key(['generate', 'read']);
    // The server answers, badly, once: an attempt that fails, not an outage to wait out.
    ollama.script({ path: '/api/chat', status: 500, error: 'model crashed' });
    const id = await generate(key, 'Summarise: the first attempt fails.');
    let between: JobStatus | undefined;
    await waitUntil(
      async () => {
        between = await status(key, id);
        return between.status === 'retrying' || between.status === 'completed';
      },
      10_000,
      'a retrying status',
    );
    expect(between).toMatchObject({
      status: 'retrying',
      error: null,
      lastError: expect.stringContaining('model crashed'),
      waiting: null,
      retry: { attemptsMade: 1, attempts: 3, nextAttemptAt: expect.any(String) },
    });
    // The generate queue's first backoff: 2 s, give or take its jitter.
    const next = Date.parse(between?.retry?.nextAttemptAt ?? '');
    expect(next).toBeGreaterThan(Date.now() - 1_000);
    expect(next).toBeLessThan(Date.now() + 4_000);
    await waitUntil(async () => (await status(key, id)).status === 'completed', 15_000, 'done');
    expect(await status(key, id)).not.toHaveProperty('retry');
  });
});
