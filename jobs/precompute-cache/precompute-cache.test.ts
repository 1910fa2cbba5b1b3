import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditCacheQueue, auditJobId } from '../../shared/generation/audit-cache-queue.ts';
import { PRECOMPUTE_PRIORITY } from '../../shared/generation/precompute.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import { AnswerCache } from '../../shared/inference/answer-cache.ts';
import { exactKey, namespaceKey } from '../../shared/inference/request-keys.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { recordAsks } from '../../test/fixtures/generations.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import {
  type ModelCall,
  type ModelTestServer,
  startOllamaServer,
  startOpenAIServer,
} from '../../test/fixtures/model-servers.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { deletePrefix, randomPrefix, useRedis } from '../../test/fixtures/redis.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { startWorker } from '../../workers/worker.ts';
import { generateJob } from '../generate/index.ts';
import { precomputeCacheJob } from './index.ts';
import type { PrecomputeSummary } from './precompute.ts';

const HOUR = 3_600_000;

/**
 * A worker running `generate` and `precompute-cache` over a database of its own, with an
 * Ollama and an OpenAI test server; `seed` records asks an hour ago.
 */
function useNight(env: Record<string, string> = {}, latencyMs = 0) {
  const database = useTestDatabase();
  const servers: { ollama?: ModelTestServer; openai?: ModelTestServer; dir?: string } = {};
  beforeAll(async () => {
    [servers.ollama, servers.openai] = await Promise.all([
      startOllamaServer({ latencyMs: (call) => (call.path === '/api/chat' ? latencyMs : 0) }),
      startOpenAIServer(),
    ]);
    servers.dir = await mkdtemp(path.join(tmpdir(), 'lowburn-night-'));
  });
  afterAll(async () => {
    await Promise.all([servers.ollama?.close(), servers.openai?.close()]);
    if (servers.dir) await rm(servers.dir, { recursive: true, force: true });
  });
  const w = useJobWorker(
    database,
    { generate: generateJob, 'precompute-cache': precomputeCacheJob },
    () => ({
      OLLAMA_URL: servers.ollama?.url ?? '',
      FRONTIER_URL: servers.openai?.baseUrl ?? '',
      FRONTIER_API_KEY: servers.openai?.apiKey ?? '',
      STORAGE_URL: `file:${path.join(servers.dir ?? '', 'objects')}`,
      COLD_CACHE_DIR: path.join(servers.dir ?? '', 'cache'),
      DUCKDB_THREADS: '1',
      ...env,
    }),
  );
  const apiKeyId = randomUUID();
  return {
    database,
    w,
    apiKeyId,
    get ollama() {
      return servers.ollama as ModelTestServer;
    },
    get openai() {
      return servers.openai as ModelTestServer;
    },
    /** Each prompt asked twice, by two users, an hour ago. */
    async seed(prompts: string[]) {
      for (const prompt of prompts) {
        await recordAsks(database.db, 2, {
          apiKeyId,
          users: 2,
          at: new Date(Date.now() - HOUR),
          prompt,
        });
      }
    },
    /** Runs the precompute as the scheduler would and returns its summary. */
    async run(): Promise<{ job: Job; summary: PrecomputeSummary }> {
      const job = await w.queues.add(precomputeCacheJob, {});
      const queue = w.queues.get(precomputeCacheJob);
      let done: Job | undefined;
      await waitUntil(
        async () => {
          done = await queue.getJob(job.id ?? '');
          return Boolean(done?.finishedOn);
        },
        30_000,
        'the precompute run',
        { explain: async () => `state ${await done?.getState()}, ${done?.failedReason ?? ''}` },
      );
      expect(done?.failedReason).toBeUndefined();
      return { job: done as Job, summary: done?.returnvalue as PrecomputeSummary };
    },
    /** Chat calls the local model received whose prompt contains `text`. */
    chats(text: string): ModelCall[] {
      return (servers.ollama?.callsTo('/api/chat') ?? []).filter((c) =>
        JSON.stringify(c.body?.messages ?? '').includes(text),
      );
    },
  };
}

describe("a night's precompute", () => {
  const night = useNight({ PRECOMPUTE_CONCURRENCY: '2' });
  const prompts = ['Summarise: the weather', 'Summarise: the news', 'Summarise: FAIL please'];
  beforeAll(async () => {
    await night.seed(prompts);
    // The local model errors on one prompt; the paid one is configured but not allowed.
    night.ollama.handle((call) =>
      JSON.stringify(call.body?.messages ?? '').includes('FAIL') && call.path === '/api/chat'
        ? { status: 500, error: 'model crashed' }
        : undefined,
    );
  });

  it('answers the top keys with the local model only, and records the run', async () => {
    const { job, summary } = await night.run();
    expect(summary).toMatchObject({
      candidates: 3,
      skippedFresh: 0,
      generatedLocal: 2,
      generatedFrontier: 0,
      failed: 1,
      invalid: 0,
      skippedBudget: 0,
      stoppedBy: null,
    });
    expect(night.openai.calls).toHaveLength(0);
    const row = await night.database.db
      .selectFrom('precompute_runs')
      .selectAll()
      .where('id', '=', job.id ?? '')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      state: 'finished',
      candidates: 3,
      generated_local: 2,
      failed: 1,
      stopped_by: null,
    });
    expect(row.wall_ms).toBeGreaterThan(0);
    expect(await night.w.metrics()).toMatch(/lowburn_precompute_keys_total\{outcome="local"\} 2/);
    // Then yesterday's false-hit audit is queued, once.
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const audit = await night.w.queues.get(auditCacheQueue).getJob(auditJobId(yesterday));
    expect(audit?.data).toEqual({ day: yesterday });
  });

  it('writes precomputed and semantic entries living CACHE_TTL_PRECOMPUTED ± 10 %', async () => {
    const { config, redis, prefix } = night.w;
    const cache = new AnswerCache(redis, prefix);
    const ttls: number[] = [];
    for (const prompt of prompts.slice(0, 2)) {
      const namespace = namespaceKey({
        taskType: 'summary',
        localModel: config.inference.localModel,
        localModelVersion: config.inference.localModelVersion,
        localModelDigest: await digestOf(night.ollama, config.inference.localModel),
        embedModel: config.inference.embedModel,
        scope: night.apiKeyId,
      });
      const key = exactKey([{ role: 'user', content: prompt }]);
      for (const layer of ['precomputed', 'semantic'] as const) {
        const ttl = await redis.pttl(cache.key(layer, namespace, key));
        expect(ttl, `${layer} ${prompt}`).toBeGreaterThan(0.9 * 24 * HOUR - 60_000);
        expect(ttl).toBeLessThanOrEqual(1.1 * 24 * HOUR);
        ttls.push(ttl);
      }
    }
    // Jittered: the night's entries do not all expire together.
    expect(new Set(ttls.map((t) => Math.round(t / 60_000))).size).toBeGreaterThan(1);
  });

  it("answers the morning's first asker from the precomputed layer", async () => {
    const before = night.chats('the weather').length;
    const job = await night.w.queues.add(generateQueue, {
      userId: 'early-bird',
      apiKeyId: night.apiKeyId,
      taskType: 'summary',
      prompt: 'Summarise: the weather',
    });
    let done: Job | undefined;
    await waitUntil(
      async () => {
        done = await night.w.queues.get(generateQueue).getJob(job.id ?? '');
        return Boolean(done?.finishedOn);
      },
      10_000,
      'the live generation',
    );
    expect(done?.returnvalue).toMatchObject({ source: 'cache', layer: 'precomputed' });
    expect(night.chats('the weather')).toHaveLength(before);
  });

  it('skips keys that are still fresh when run again', async () => {
    const weather = night.chats('the weather').length;
    const { summary } = await night.run();
    expect(summary).toMatchObject({ candidates: 3, skippedFresh: 2, generatedLocal: 0, failed: 1 });
    expect(night.chats('the weather')).toHaveLength(weather);
  });
});

describe('a precompute allowed to use the paid model', () => {
  const night = useNight({
    PRECOMPUTE_ALLOW_FRONTIER: 'true',
    PRECOMPUTE_BUDGET_USD: '0.0000001',
    PRECOMPUTE_CONCURRENCY: '1',
  });
  beforeAll(async () => {
    await night.seed(['Summarise: one', 'Summarise: two', 'Summarise: three']);
    night.ollama.handle((call) =>
      call.path === '/api/chat' ? { status: 500, error: 'model crashed' } : undefined,
    );
  });

  it('falls back to it only until PRECOMPUTE_BUDGET_USD is spent', async () => {
    const { summary } = await night.run();
    expect(summary).toMatchObject({ candidates: 3, generatedFrontier: 1, failed: 2 });
    expect(summary.costUsd).toBeGreaterThan(0.0000001);
    expect(night.openai.calls).toHaveLength(1);
  });
});

describe('a precompute past its time budget', () => {
  // Eight keys of a second each cannot fit a 4 s budget, whatever the ranking took.
  const night = useNight({ PRECOMPUTE_BUDGET_TIME: '4s', PRECOMPUTE_CONCURRENCY: '1' }, 1_000);
  const prompts = Array.from({ length: 8 }, (_, i) => `Summarise: budget ${i}`);
  beforeAll(() => night.seed(prompts));

  it('stops starting keys, finishes what it started and reports what it skipped', async () => {
    const { job, summary } = await night.run();
    expect(summary.stoppedBy).toBe('time');
    expect(summary.generatedLocal).toBeGreaterThanOrEqual(1);
    expect(summary.skippedBudget).toBeGreaterThanOrEqual(2);
    // Every key started was answered: none is counted failed or left behind.
    expect(summary.failed).toBe(0);
    expect(summary.generatedLocal + summary.skippedBudget).toBe(prompts.length);
    expect(night.chats('Summarise: budget')).toHaveLength(summary.generatedLocal);
    const row = await night.database.db
      .selectFrom('precompute_runs')
      .select(['stopped_by', 'skipped_budget'])
      .where('id', '=', job.id ?? '')
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ stopped_by: 'time', skipped_budget: summary.skippedBudget });
  });
});

describe('a precompute beside live requests', () => {
  // One generate job at a time, so the queue decides who goes next.
  const night = useNight({ PRECOMPUTE_CONCURRENCY: '2', WORKER_CONCURRENCY: '1' }, 1_000);
  const prompts = ['Summarise: p1', 'Summarise: p2', 'Summarise: p3', 'Summarise: p4'];
  beforeAll(() => night.seed(prompts));

  it('starts a live generate job before the precompute work still waiting', async () => {
    const running = night.run();
    const queue = night.w.queues.get(generateQueue);
    await waitUntil(
      async () => (await queue.getPrioritizedCount()) > 0 && (await queue.getActiveCount()) > 0,
      10_000,
      'a precompute job active and one waiting',
    );
    const live = await night.w.queues.add(generateQueue, {
      userId: 'night-owl',
      apiKeyId: night.apiKeyId,
      taskType: 'summary',
      prompt: 'Summarise: a live question',
    });
    // Read after the live job was added: these were all waiting when it arrived.
    const waiting = await queue.getJobs(['prioritized']);
    expect(waiting.length).toBeGreaterThan(0);
    await running;
    const liveStarted = (await queue.getJob(live.id ?? ''))?.processedOn ?? Infinity;
    for (const job of waiting) {
      expect(job.opts.priority).toBe(PRECOMPUTE_PRIORITY);
      const started = (await queue.getJob(job.id ?? ''))?.processedOn ?? 0;
      expect(started, job.id).toBeGreaterThan(liveStarted);
    }
  });
});

/** The digest the test server lists for `model` (part of every namespace). */
async function digestOf(ollama: ModelTestServer, model: string): Promise<string | undefined> {
  const tags = (await (await fetch(`${ollama.url}/api/tags`)).json()) as {
    models: { name: string; digest: string }[];
  };
  const name = model.includes(':') ? model : `${model}:latest`;
  return tags.models.find((m) => m.name === name)?.digest;
}

describe('a precompute whose worker stops half way', () => {
  const database = useTestDatabase();
  const r = useRedis();
  const prefix = randomPrefix();
  const apiKeyId = randomUUID();
  const prompts = Array.from({ length: 6 }, (_, i) => `Summarise: item ${i}`);
  let ollama: ModelTestServer;
  let dir: string;
  let queues: Queues;
  beforeAll(async () => {
    ollama = await startOllamaServer({ latencyMs: (c) => (c.path === '/api/chat' ? 300 : 0) });
    dir = await mkdtemp(path.join(tmpdir(), 'lowburn-night-'));
    queues = new Queues({ connection: r.redis, prefix });
    for (const prompt of prompts) {
      await recordAsks(database.db, 2, {
        apiKeyId,
        users: 2,
        at: new Date(Date.now() - HOUR),
        prompt,
      });
    }
  });
  afterAll(async () => {
    await queues?.close();
    await ollama?.close();
    await deletePrefix(r.redis, prefix);
    await rm(dir, { recursive: true, force: true });
  });
  const start = () =>
    startWorker({
      config: testConfig({
        DATABASE_URL: database.url,
        QUEUE_PREFIX: prefix,
        OLLAMA_URL: ollama.url,
        STORAGE_URL: `file:${path.join(dir, 'objects')}`,
        COLD_CACHE_DIR: path.join(dir, 'cache'),
        PRECOMPUTE_CONCURRENCY: '1',
        SHUTDOWN_GRACE: '500ms',
      }),
      catalog: { generate: generateJob, 'precompute-cache': precomputeCacheJob },
      log: createLogger({ level: 'silent' }),
    });

  it('answers each key once when the run is taken up again', async () => {
    const first = await start();
    const job = await queues.add(precomputeCacheJob, {});
    await waitUntil(async () => ollama.callsTo('/api/chat').length >= 2, 10_000, 'two answers');
    expect((await first.stop()).handedBack).toBeGreaterThanOrEqual(1);
    const answered = ollama.callsTo('/api/chat').length;
    expect(answered).toBeLessThan(prompts.length);

    const second = await start();
    try {
      const queue = queues.get(precomputeCacheJob);
      await waitUntil(
        async () => Boolean((await queue.getJob(job.id ?? ''))?.finishedOn),
        20_000,
        'the resumed run',
      );
      const summary = (await queue.getJob(job.id ?? ''))?.returnvalue as PrecomputeSummary;
      expect(summary.skippedFresh + summary.generatedLocal).toBe(prompts.length);
      expect(summary.skippedFresh).toBeGreaterThanOrEqual(1);
      const asked = ollama.callsTo('/api/chat').map((c) => JSON.stringify(c.body?.messages));
      for (const prompt of prompts) {
        expect(
          asked.filter((m) => m.includes(prompt)),
          prompt,
        ).toHaveLength(1);
      }
    } finally {
      await second.stop();
    }
  });
});
