// npm run bench:precompute — what the 3 AM precompute saves the next day, in one run: a seeded
// two-day Zipf workload (the same prompt distribution each day, a new sample each day, a share of
// asks reworded), through the real pipeline against the Ollama-protocol test server (local
// answers take LOCAL_MS):
//   day 1 is recorded in `generations` as the generate job records it (the precompute's input);
//   the precompute runs as a real `precompute-cache` job on a real worker (PRECOMPUTE_CONCURRENCY);
//   day 2 is asked twice from empty caches — with the night's precomputed entries, and without
//   them (the reference) — and the day's model calls and cache hits are compared.
// Day 2 starts from caches emptied of day 1's answers: with the 24 h exact TTL some of them would
// still be live in the morning, so this is the precompute's effect on a cold cache.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { precomputeCacheJob } from '../jobs/precompute-cache/index.ts';
import { planPrecompute } from '../jobs/precompute-cache/plan.ts';
import type { PrecomputeSummary } from '../jobs/precompute-cache/precompute.ts';
import { type Config, loadConfig } from '../shared/config/load-config.ts';
import { createDb } from '../shared/db/create-db.ts';
import { ensurePartitions } from '../shared/db/partitions.ts';
import { generateQueue } from '../shared/generation/queue.ts';
import { createModelDigest } from '../shared/inference/model-digest.ts';
import { createGenerationPipeline } from '../shared/inference/pipeline.ts';
import { createSemanticIndex, type SemanticIndex } from '../shared/inference/semantic-index.ts';
import { createLogger } from '../shared/log/logger.ts';
import { Queues } from '../shared/queue/queues.ts';
import { createStorage } from '../shared/storage/create-storage.ts';
import { startOllamaServer } from '../test/fixtures/model-servers.ts';
import { imageNodeArgs } from './idle-worker.ts';
import { recordDay } from './recorded-day.ts';
import { benchDatabase, deletePrefix, REDIS_URL, round, rssMb } from './support.ts';
import { startWorkerProcess } from './webhook-processes.ts';
import { type WorkloadAsk, zipfWorkload } from './zipf-workload.ts';

const PER_DAY = Number(process.env.BENCH_REQUESTS ?? 10_000);
const DISTINCT = Number(process.env.BENCH_DISTINCT ?? 3_000);
const USERS = Number(process.env.BENCH_USERS ?? 1_000);
const TOP_N = Number(process.env.BENCH_TOP_N ?? 1_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const LOCAL_MS = 200;
const IN_FLIGHT = 50;
const PARAPHRASED = 0.2;

const say = (line: string) => process.stderr.write(`${line}\n`);
const log = createLogger({ level: 'silent' });
const ollama = await startOllamaServer({
  latencyMs: (call) => (call.path === '/api/chat' ? LOCAL_MS : 5),
});
const chats = () => ollama.callsTo('/api/chat').length;
const databaseUrl = await benchDatabase();
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const workload = (seed: number) =>
  zipfWorkload({
    requests: PER_DAY,
    distinct: DISTINCT,
    paraphrased: PARAPHRASED,
    seed,
    users: USERS,
  });
const envFor = (prefix: string): Record<string, string> => ({
  NODE_ENV: 'development',
  LOG_LEVEL: 'silent',
  DATABASE_URL: databaseUrl,
  REDIS_URL,
  QUEUE_PREFIX: prefix,
  OLLAMA_URL: ollama.url,
  HEALTH_PORT: '0',
  STORAGE_URL: 'file:/tmp/lowburn-bench-objects',
  COLD_CACHE_DIR: '/tmp/lowburn-bench-cold-cache',
  PRECOMPUTE_TOP_N: String(TOP_N),
  PRECOMPUTE_CONCURRENCY: String(CONCURRENCY),
  DUCKDB_THREADS: '1',
});
const configFor = (prefix: string): Config => loadConfig(envFor(prefix));

// Day 1, as recorded: the precompute's only input.
const { db } = createDb({ url: databaseUrl, log });
await db.deleteFrom('generations').execute();
await db.deleteFrom('precompute_runs').execute();
await ensurePartitions(db, { from: new Date(Date.now() - 86_400_000), days: 2 });
const apiKeyId = randomUUID();
const day1 = workload(1);
await recordDay(db, day1, apiKeyId);
say(
  `day 1: ${PER_DAY.toLocaleString('en')} asks of ${DISTINCT.toLocaleString('en')} prompts by ${USERS} users recorded`,
);

/**
 * The night: a real precompute-cache job on a real `lowburn worker` process, run with the image's
 * node flags and MALLOC_ARENA_MAX, whose RSS is read from /proc while it works.
 */
async function night(prefix: string) {
  const config = configFor(prefix);
  const storage = await createStorage(config.storage);
  const keys = createGenerationPipeline({
    config: config.inference,
    redis,
    prefix,
    log,
    localModelDigest: createModelDigest({
      url: ollama.url,
      model: config.inference.localModel,
      log,
    }),
    semanticIndex: () => Promise.reject(new Error('not used')),
  });
  const plan = await planPrecompute({ config, storage, redis, generation: keys });
  await storage.close();
  const worker = await startWorkerProcess({
    ...envFor(prefix),
    LOG_LEVEL: 'info',
    WORKER_QUEUES: 'generate,precompute-cache',
    MALLOC_ARENA_MAX: '2',
    NODE_OPTIONS: imageNodeArgs()
      .filter((a) => a.startsWith('--'))
      .join(' '),
  });
  const queues = new Queues({ connection: redis, prefix });
  // A worker serving live generations has the pipeline and the semantic index open already:
  // one live request opens them here, so the delta below is the precompute's own.
  await liveRequest(queues);
  const before = { rss: rssMb(worker.pid), chats: chats() };
  let peak = before.rss;
  let samples = 0;
  const job = await queues.add(precomputeCacheJob, {});
  const queue = queues.get(precomputeCacheJob);
  try {
    for (;;) {
      const rss = rssMb(worker.pid);
      peak = Math.max(peak, rss);
      if (process.env.BENCH_TRACE && ++samples % 10 === 0)
        say(`    ${samples / 10} s: ${round(rss, 1)} MB`);
      const state = await queue.getJob(job.id ?? '');
      if (state?.finishedOn) {
        if (state.failedReason) throw new Error(`precompute failed: ${state.failedReason}`);
        const end = rssMb(worker.pid);
        say(
          `  worker RSS: ${round(before.rss, 1)} MB warm, peak ${round(peak, 1)} MB during the run (the ranking's DuckDB), ${round(end, 1)} MB at its end`,
        );
        return {
          summary: state.returnvalue as PrecomputeSummary,
          topN: new Set(plan.candidates.map((c) => `${c.keys.namespace}:${c.keys.exact}`)),
          rssDeltaMb: peak - before.rss,
          rssEndDeltaMb: end - before.rss,
          modelCalls: chats() - before.chats,
        };
      }
      await sleep(100);
    }
  } finally {
    await queues.close();
    await worker.stop();
  }
}

/** One live generation through the worker, waited for. */
async function liveRequest(queues: Queues) {
  const job = await queues.add(generateQueue, {
    userId: 'warm-up',
    apiKeyId: randomUUID(),
    taskType: 'summary',
    prompt: 'Summarize: a warm-up request',
  });
  const queue = queues.get(generateQueue);
  while (!(await queue.getJob(job.id ?? ''))?.finishedOn) await sleep(20);
}

/** Day 2 through the pipeline as a worker runs it: what a cache answered, what a model did. */
async function day2(config: Config, asks: WorkloadAsk[], topN: Set<string>) {
  let index: SemanticIndex | undefined;
  const pipeline = createGenerationPipeline({
    config: config.inference,
    redis,
    prefix: config.queuePrefix,
    log,
    localModelDigest: createModelDigest({
      url: ollama.url,
      model: config.inference.localModel,
      log,
    }),
    semanticIndex: async () => {
      index ??= createSemanticIndex({
        redis,
        prefix: config.queuePrefix,
        dimensions: config.inference.embedDimensions,
      });
      await index.ready;
      return index;
    },
  });
  const before = chats();
  const tally = { hits: 0, inTopN: 0, inTopNHit: 0, byLayer: {} as Record<string, number> };
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < asks.length) {
        const { request } = asks[next++] as WorkloadAsk;
        const scoped = { ...request, cache: { scope: apiKeyId, mode: 'shared' as const } };
        const keys = await pipeline.keysOf(scoped);
        const outcome = await pipeline.generate(scoped);
        const top = topN.has(`${keys.namespace}:${keys.exact}`);
        if (top) tally.inTopN++;
        if (outcome.layer) {
          tally.hits++;
          tally.byLayer[outcome.layer] = (tally.byLayer[outcome.layer] ?? 0) + 1;
          if (top) tally.inTopNHit++;
        }
      }
    }),
  );
  await index?.close();
  return { ...tally, modelCalls: chats() - before };
}

const day2Asks = workload(2);

const withPrefix = `lbbench-pre-${randomUUID().slice(0, 8)}`;
const withConfig = configFor(withPrefix);
say(
  `the night: precomputing the top ${TOP_N} at concurrency ${CONCURRENCY} (local ${LOCAL_MS} ms)…`,
);
const ran = await night(withPrefix);
say(
  `  ${JSON.stringify({ ...ran.summary, from: undefined, to: undefined, runId: undefined })} in ${round(ran.summary.wallMs / 1000)} s, +${round(ran.rssDeltaMb, 1)} MB RSS`,
);
const withRun = await day2(withConfig, day2Asks, ran.topN);
say(
  `day 2 with the precompute: ${withRun.modelCalls} model calls, ${JSON.stringify(withRun.byLayer)}`,
);
await deletePrefix(redis, withPrefix);

const withoutPrefix = `lbbench-nopre-${randomUUID().slice(0, 8)}`;
const withoutRun = await day2(configFor(withoutPrefix), day2Asks, ran.topN);
say(`day 2 without: ${withoutRun.modelCalls} model calls, ${JSON.stringify(withoutRun.byLayer)}`);
await deletePrefix(redis, withoutPrefix);

await db.destroy();
await redis.quit();
await ollama.close();

console.log(
  JSON.stringify({
    bench: 'precompute',
    prompts: ran.summary.generatedLocal + ran.summary.generatedFrontier,
    candidates: ran.summary.candidates,
    concurrency: CONCURRENCY,
    local_ms: LOCAL_MS,
    wall_s: round(ran.summary.wallMs / 1000, 1),
    rss_delta_mb: round(ran.rssDeltaMb, 1),
    rss_end_delta_mb: round(ran.rssEndDeltaMb, 1),
    night_model_calls: ran.modelCalls,
    topn_coverage: round(withRun.inTopNHit / Math.max(1, withRun.inTopN), 4),
    day2_requests: PER_DAY,
    day2_in_topn: withRun.inTopN,
    day2_hit_with: round(withRun.hits / PER_DAY, 4),
    day2_hit_without: round(withoutRun.hits / PER_DAY, 4),
    day2_model_calls_with: withRun.modelCalls,
    day2_model_calls_without: withoutRun.modelCalls,
    day2_model_calls_saved: round(1 - withRun.modelCalls / Math.max(1, withoutRun.modelCalls), 4),
  }),
);
