import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import {
  type ModelTestServer,
  startOllamaServer,
  startOpenAIServer,
} from '../../test/fixtures/model-servers.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { deletePrefix, randomPrefix, useRedis } from '../../test/fixtures/redis.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import { type RunningWorker, startWorker } from '../../workers/worker.ts';
import { generateJob } from './index.ts';

const log = createLogger({ level: 'silent' });

describe('the generate job', () => {
  const database = useTestDatabase();
  const r = useRedis();
  let ollama: ModelTestServer;
  let openai: ModelTestServer;
  let worker: RunningWorker;
  let queues: Queues;
  let events: QueueEvents;
  let eventsConnection: ReturnType<typeof r.redis.duplicate>;
  let apiKeyId: string;
  // One queue prefix for the whole file: the worker starts once, in beforeAll.
  const prefix = randomPrefix();

  beforeAll(async () => {
    [ollama, openai] = await Promise.all([startOllamaServer(), startOpenAIServer()]);
    const config = testConfig({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: prefix,
      OLLAMA_URL: ollama.url,
      FRONTIER_URL: openai.baseUrl,
      FRONTIER_API_KEY: openai.apiKey,
      LOCAL_TIMEOUT: '1s',
    });
    apiKeyId = (await createApiKey(database.db, { name: 'app', scopes: 'generate' }, devKeyring()))
      .id;
    queues = new Queues({ connection: r.redis, prefix });
    eventsConnection = r.redis.duplicate();
    events = new QueueEvents('generate', { connection: eventsConnection, prefix });
    await events.waitUntilReady();
    worker = await startWorker({ config, catalog: { generate: generateJob }, log });
  });
  afterAll(async () => {
    await worker?.stop();
    await queues?.close();
    await events?.close();
    await eventsConnection?.quit();
    await Promise.all([ollama?.close(), openai?.close()]);
    await deletePrefix(r.redis, prefix);
  });

  const rows = (id: string) =>
    database.db.selectFrom('generations').selectAll().where('id', '=', id).execute();

  it('answers, records one row with tokens and cost, and queues the webhook', async () => {
    ollama.script({ path: '/api/chat', status: 500, error: 'model not loaded' });
    const job = await queues.add(generateQueue, {
      apiKeyId,
      userId: 'user-1',
      taskType: 'summary',
      prompt: 'Summarise: the quarterly numbers went up by 12 percent.',
      webhookUrl: 'https://hooks.example.com/lowburn',
      metadata: { ticket: 'T-1' },
    });
    const result = await job.waitUntilFinished(events, 15_000);
    expect(result).toMatchObject({
      source: 'frontier',
      layer: null,
      model: 'gpt-4o-mini',
      fallback: { reason: 'error' },
      metadata: { ticket: 'T-1' },
    });
    expect(result.costUsd).toBeGreaterThan(0);
    const [row] = await rows(job.id ?? '');
    expect(row).toMatchObject({
      status: 'completed',
      route: 'frontier',
      cache_layer: null,
      model: 'gpt-4o-mini',
      user_id: 'user-1',
      task_type: 'summary',
      response: result.answer,
      tokens_in: result.tokensIn,
      tokens_out: result.tokensOut,
      metadata: { ticket: 'T-1' },
      fallback_reason: 'error',
    });
    expect(Number(row?.cost_usd)).toBeCloseTo(result.costUsd, 8);
    const deliveries = await database.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('job_id', '=', job.id ?? '')
      .execute();
    expect(deliveries).toEqual([
      expect.objectContaining({
        event_type: 'generation.completed',
        url: 'https://hooks.example.com/lowburn',
        status: 'pending',
      }),
    ]);
  });

  it('serves a repeat from the cache and records the layer', async () => {
    const payload = {
      apiKeyId,
      userId: 'user-2',
      taskType: 'classification' as const,
      prompt: 'Classify: my invoice is wrong',
    };
    const first = await (await queues.add(generateQueue, payload)).waitUntilFinished(
      events,
      15_000,
    );
    const job = await queues.add(generateQueue, payload);
    const second = await job.waitUntilFinished(events, 15_000);
    expect(first).toMatchObject({ source: 'local', costUsd: 0 });
    expect(second).toMatchObject({
      source: 'cache',
      layer: 'exact',
      answer: first.answer,
      costUsd: 0,
    });
    expect(await rows(job.id ?? '')).toEqual([
      expect.objectContaining({ cache_layer: 'exact', route: null, status: 'completed' }),
    ]);
  });

  it('runs a job once per id: a re-enqueue after it finished calls no model and writes no row', async () => {
    const payload = {
      apiKeyId,
      userId: 'user-3',
      taskType: 'summary' as const,
      prompt: `Summarise this unique text ${Date.now()}`,
    };
    const job = await queues.add(generateQueue, payload, { jobId: 'generate.test.once' });
    const first = await job.waitUntilFinished(events, 15_000);
    const chats = ollama.callsTo('/api/chat').length;
    // The idempotency path of the API re-enqueues under the same id once BullMQ forgot the job.
    await job.remove();
    const again = await queues.add(generateQueue, payload, { jobId: 'generate.test.once' });
    expect(await again.waitUntilFinished(events, 15_000)).toMatchObject({ answer: first.answer });
    expect(ollama.callsTo('/api/chat')).toHaveLength(chats);
    expect(await rows('generate.test.once')).toHaveLength(1);
  });

  it('leaves one row when an attempt fails and the retry succeeds', async () => {
    // A frontier-routed request whose first frontier call fails: attempt 1 throws, attempt 2 answers.
    openai.script({ path: '/v1/chat/completions', status: 503, error: 'overloaded' });
    const job = await queues.add(
      generateQueue,
      {
        apiKeyId,
        userId: 'user-6',
        taskType: 'generation',
        prompt: 'Write a haiku about batching',
      },
      { backoff: { type: 'fixed', delay: 10 } },
    );
    expect(await job.waitUntilFinished(events, 15_000)).toMatchObject({ source: 'frontier' });
    expect((await queues.get(generateQueue).getJob(job.id ?? ''))?.attemptsMade).toBe(2);
    expect(await rows(job.id ?? '')).toEqual([expect.objectContaining({ status: 'completed' })]);
  });

  it('fails an unknown template for good, recording the failure and the failed webhook', async () => {
    const job = await queues.add(generateQueue, {
      apiKeyId,
      userId: 'user-4',
      taskType: 'formatting',
      template: 'no-such-template',
      params: { product: 'shoes' },
      webhookUrl: 'https://hooks.example.com/lowburn',
    });
    await expect(job.waitUntilFinished(events, 15_000)).rejects.toThrow(
      /unknown template "no-such-template"; registered: product-title, ticket-triage/,
    );
    expect((await queues.get(generateQueue).getJob(job.id ?? ''))?.attemptsMade).toBe(1);
    expect(await rows(job.id ?? '')).toEqual([
      expect.objectContaining({
        status: 'failed',
        error: expect.stringContaining('unknown template'),
      }),
    ]);
    const [delivery] = await database.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('job_id', '=', job.id ?? '')
      .execute();
    expect(delivery?.event_type).toBe('generation.failed');
  });

  describe("with text Postgres cannot store (queued around the API's checks)", () => {
    const odd = {
      prompt: 'Summarise: nul\u0000 and lone \ud800 here',
      metadata: { 'k\u0000': 'v\udfff' },
    };
    const deliveryOf = async (jobId: string) =>
      database.db
        .selectFrom('webhook_deliveries')
        .select(['event_type', 'payload'])
        .where('job_id', '=', jobId)
        .executeTakeFirst();

    it('answers, and records the row and the webhook with U+FFFD in their place', async () => {
      const job = await queues.add(generateQueue, {
        apiKeyId,
        userId: 'user-7\u0000',
        taskType: 'summary',
        ...odd,
        webhookUrl: 'https://hooks.example.com/lowburn',
      });
      await job.waitUntilFinished(events, 15_000);
      expect(await rows(job.id ?? '')).toEqual([
        expect.objectContaining({
          status: 'completed',
          user_id: 'user-7\uFFFD',
          prompt: 'user: Summarise: nul\uFFFD and lone \uFFFD here',
          metadata: { 'k\uFFFD': 'v\uFFFD' },
        }),
      ]);
      const delivery = await deliveryOf(job.id ?? '');
      expect(delivery?.event_type).toBe('generation.completed');
      expect(JSON.stringify(delivery?.payload)).toContain('"k\uFFFD":"v\uFFFD"');
    });

    it('records the failed row and queues generation.failed when the job fails for good', async () => {
      const job = await queues.add(generateQueue, {
        apiKeyId,
        userId: 'user-8',
        taskType: 'formatting',
        template: 'no-such-template',
        params: { product: 'shoes\u0000\ud800' },
        metadata: odd.metadata,
        webhookUrl: 'https://hooks.example.com/lowburn',
      });
      await expect(job.waitUntilFinished(events, 15_000)).rejects.toThrow(/unknown template/);
      expect(await rows(job.id ?? '')).toEqual([
        expect.objectContaining({ status: 'failed', metadata: { 'k\uFFFD': 'v\uFFFD' } }),
      ]);
      expect((await deliveryOf(job.id ?? ''))?.event_type).toBe('generation.failed');
    });
  });

  it('renders a registered template and shares its answer across case and whitespace', async () => {
    const add = (product: string) =>
      queues.add(generateQueue, {
        apiKeyId,
        userId: 'user-5',
        taskType: 'formatting',
        template: 'product-title',
        params: { product, requestId: product },
      });
    const first = await (await add('Red Shoes ')).waitUntilFinished(events, 15_000);
    const second = await (await add('red  shoes')).waitUntilFinished(events, 15_000);
    expect(second).toMatchObject({ source: 'cache', layer: 'template', answer: first.answer });
    const chat = ollama.callsTo('/api/chat').at(-1);
    expect(JSON.stringify(chat?.body)).toContain('Write a short, catchy product title');
  });
});
