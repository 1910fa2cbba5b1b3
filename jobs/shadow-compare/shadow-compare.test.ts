import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import type { GeneratePayload } from '../../shared/generation/schema.ts';
import {
  shadowCompareQueue,
  shadowJobId,
  shadowSampled,
} from '../../shared/generation/shadow-compare-queue.ts';
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
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { type RunningWorker, startWorker } from '../../workers/worker.ts';
import { generateJob } from '../generate/index.ts';
import { shadowCompareJob } from './index.ts';

const log = createLogger({ level: 'silent' });
const CHAT = '/v1/chat/completions';
const LABEL = {
  type: 'object',
  properties: { label: { type: 'string' }, score: { type: 'number' } },
  required: ['label', 'score'],
};

/** A worker running `generate` and `shadow-compare` against the test model servers. */
function useFleet(sampleRate: string) {
  const database = useTestDatabase();
  const r = useRedis();
  const prefix = randomPrefix();
  const fleet = {} as {
    ollama: ModelTestServer;
    openai: ModelTestServer;
    queues: Queues;
    apiKeyId: string;
    database: typeof database;
    generate(payload: Omit<GeneratePayload, 'apiKeyId' | 'userId'>): Promise<{
      id: string;
      result: Record<string, unknown>;
    }>;
  };
  let worker: RunningWorker;
  let events: QueueEvents;
  let eventsConnection: ReturnType<typeof r.redis.duplicate>;
  beforeAll(async () => {
    [fleet.ollama, fleet.openai] = await Promise.all([startOllamaServer(), startOpenAIServer()]);
    const config = testConfig({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: prefix,
      OLLAMA_URL: fleet.ollama.url,
      FRONTIER_URL: fleet.openai.baseUrl,
      FRONTIER_API_KEY: fleet.openai.apiKey,
      FRONTIER_TIMEOUT: '3s',
      SHADOW_SAMPLE_RATE: sampleRate,
    });
    fleet.database = database;
    fleet.apiKeyId = (
      await createApiKey(database.db, { name: 'app', scopes: 'generate' }, devKeyring())
    ).id;
    fleet.queues = new Queues({ connection: r.redis, prefix });
    eventsConnection = r.redis.duplicate();
    events = new QueueEvents('generate', { connection: eventsConnection, prefix });
    await events.waitUntilReady();
    worker = await startWorker({
      config,
      catalog: { generate: generateJob, 'shadow-compare': shadowCompareJob },
      log,
    });
    fleet.generate = async (payload) => {
      const job = await fleet.queues.add(generateQueue, {
        apiKeyId: fleet.apiKeyId,
        userId: 'user-1',
        ...payload,
      });
      return { id: job.id ?? '', result: await job.waitUntilFinished(events, 15_000) };
    };
  });
  afterAll(async () => {
    await worker?.stop();
    await fleet.queues?.close();
    await events?.close();
    await eventsConnection?.quit();
    await Promise.all([fleet.ollama?.close(), fleet.openai?.close()]);
    await deletePrefix(r.redis, prefix);
  });
  beforeEach(() => {
    fleet.ollama?.reset();
    fleet.openai?.reset();
  });
  return fleet;
}

describe('the shadow comparison, sampling every local answer', () => {
  const fleet = useFleet('1');
  const comparison = (id: string) =>
    fleet.database.db
      .selectFrom('shadow_comparisons')
      .selectAll()
      .where('generation_id', '=', id)
      .executeTakeFirst();
  const compared = async (id: string) => {
    await waitUntil(async () => (await comparison(id)) !== undefined, 15_000, 'comparison row');
    return comparison(id);
  };
  const shadowJob = (id: string) => fleet.queues.get(shadowCompareQueue).getJob(shadowJobId(id));

  it("completes the caller's job while the shadow call is still blocked", async () => {
    fleet.openai.script({ path: CHAT, hang: true });
    const { id, result } = await fleet.generate({
      taskType: 'summary',
      prompt: 'Summarise: the warehouse moved to Leeds in March.',
    });
    expect(result).toMatchObject({ source: 'local', costUsd: 0 });
    await waitUntil(
      async () => fleet.openai.callsTo(CHAT).length === 1,
      10_000,
      'the shadow call reaching the frontier server',
    );
    expect(await (await shadowJob(id))?.getState()).toBe('active');
    expect(await comparison(id)).toBeUndefined();
  });

  it('records agreement for the same text answer, with its own tokens and cost', async () => {
    const { id } = await fleet.generate({
      taskType: 'summary',
      prompt: 'Summarise: the board approved the budget for next year.',
    });
    const row = await compared(id);
    expect(row).toMatchObject({
      task_type: 'summary',
      local_model: 'llama3.2:3b',
      frontier_model: 'gpt-4o-mini',
      agreed: true,
    });
    expect(row?.local_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.similarity).toBeCloseTo(1, 5);
    expect(row?.tokens_in).toBeGreaterThan(0);
    expect(Number(row?.cost_usd)).toBeGreaterThan(0);
    const generation = await fleet.database.db
      .selectFrom('generations')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(generation).toMatchObject({ route: 'local', tokens_in: expect.any(Number) });
    expect(Number(generation.cost_usd)).toBe(0);
  });

  it('records disagreement for a different text answer, keeping the frontier answer', async () => {
    const other = 'Rain is expected over the northern hills by Thursday evening.';
    fleet.openai.script({ path: CHAT, content: other });
    const { id } = await fleet.generate({
      taskType: 'summary',
      prompt: 'Summarise: the invoice total was corrected to 420 euros.',
    });
    const row = await compared(id);
    expect(row).toMatchObject({ agreed: false, frontier_answer: other });
    expect(row?.similarity).toBeLessThan(0.9);
  });

  it('compares JSON answers as canonical JSON: key order aside, values decide', async () => {
    fleet.ollama.script({ path: '/api/chat', content: '{"label":"billing","score":1}' });
    fleet.openai.script({ path: CHAT, content: '{"score":1,"label":"billing"}' });
    const same = await fleet.generate({
      taskType: 'classification',
      prompt: 'Classify: my card was charged twice',
      responseFormat: LABEL,
    });
    expect(await compared(same.id)).toMatchObject({ agreed: true, similarity: null });

    fleet.ollama.script({ path: '/api/chat', content: '{"label":"billing","score":1}' });
    fleet.openai.script({ path: CHAT, content: '{"label":"shipping","score":1}' });
    const differ = await fleet.generate({
      taskType: 'classification',
      prompt: 'Classify: the parcel never arrived',
      responseFormat: LABEL,
    });
    expect(await compared(differ.id)).toMatchObject({ agreed: false, similarity: null });
  });

  it('leaves out cache hits and fallbacks', async () => {
    const prompt = 'Summarise: the office closes at noon on Friday.';
    const first = await fleet.generate({ taskType: 'summary', prompt });
    await compared(first.id);
    const hit = await fleet.generate({ taskType: 'summary', prompt });
    expect(hit.result).toMatchObject({ source: 'cache' });

    fleet.ollama.script({ path: '/api/chat', status: 500, error: 'model not loaded' });
    const fallback = await fleet.generate({
      taskType: 'summary',
      prompt: 'Summarise: the printer on floor 3 is fixed.',
    });
    expect(fallback.result).toMatchObject({ source: 'frontier', fallback: { reason: 'error' } });
    expect(await shadowJob(hit.id)).toBeUndefined();
    expect(await shadowJob(fallback.id)).toBeUndefined();
  });
});

describe('the shadow comparison at SHADOW_SAMPLE_RATE=0', () => {
  const fleet = useFleet('0');

  it('enqueues nothing', async () => {
    const { result } = await fleet.generate({
      taskType: 'summary',
      prompt: 'Summarise: the team lunch moved to Tuesday.',
    });
    expect(result).toMatchObject({ source: 'local' });
    const counts = await fleet.queues.get(shadowCompareQueue).getJobCounts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    expect(fleet.openai.callsTo(CHAT)).toHaveLength(0);
  });
});

describe('which generations are sampled', () => {
  it('is decided by the id, at about the rate', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `job-${i}`);
    const chosen = ids.filter((id) => shadowSampled(id, 0.25));
    expect(chosen.length).toBeGreaterThan(850);
    expect(chosen.length).toBeLessThan(1150);
    expect(ids.filter((id) => shadowSampled(id, 0.25))).toEqual(chosen);
    expect(ids.some((id) => shadowSampled(id, 0))).toBe(false);
  });
});
