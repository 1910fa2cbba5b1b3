// npm run bench:generate — what the generation pipeline saves on a realistic workload, in one
// run: a seeded Zipf stream of requests (a few prompts asked often, a long tail asked once, a
// share of them reworded) answered three ways against the same Ollama- and OpenAI-protocol test
// servers with model-like latencies:
//   1. frontier only — no cache, every request to the paid model (the naive app);
//   2. exact cache only — an exact-match cache in front of the paid model;
//   3. lowburn — precomputed/exact/template/semantic caches, routing to the local model, paid
//      fallback when the local answer fails (the local server fails a fixed share of calls).
// Then the latency of a cache-hit job through a real worker (dequeue → completion, BullMQ's own
// processedOn/finishedOn), and a semantic lookup at 100,000 entries of 768 dimensions.

import { randomUUID } from 'node:crypto';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { generateJob } from '../jobs/generate/index.ts';
import { loadConfig } from '../shared/config/load-config.ts';
import { generateQueue } from '../shared/generation/queue.ts';
import type { CacheLayer } from '../shared/inference/answer-cache.ts';
import { createGenerationPipeline, type GenerationOutcome } from '../shared/inference/pipeline.ts';
import { createSemanticIndex, type SemanticIndex } from '../shared/inference/semantic-index.ts';
import { measureSemanticLookup } from '../shared/inference/semantic-lookup-benchmark.ts';
import { createLogger } from '../shared/log/logger.ts';
import { Queues } from '../shared/queue/queues.ts';
import { startOllamaServer, startOpenAIServer } from '../test/fixtures/model-servers.ts';
import { startWorker } from '../workers/worker.ts';
import { benchDatabase, deletePrefix, percentile, REDIS_URL, round } from './support.ts';
import { zipfWorkload } from './zipf-workload.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const DISTINCT = Number(process.env.BENCH_DISTINCT ?? 2_000);
const PARAPHRASED = 0.2;
const IN_FLIGHT = 100;
const LOCAL_MS = 40;
const FRONTIER_MS = 120;
const LOCAL_FAILURE = 0.05;
const HIT_JOBS = 500;
const SEMANTIC_ENTRIES = Number(process.env.BENCH_SEMANTIC_ENTRIES ?? 100_000);

async function runAll<T>(items: T[], limit: number, run: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await run(items[next++] as T);
    }),
  );
}

const [ollama, openai] = await Promise.all([
  startOllamaServer({ latencyMs: (call) => (call.path === '/api/embed' ? 5 : LOCAL_MS) }),
  startOpenAIServer({ latencyMs: FRONTIER_MS }),
]);
// A fixed share of local answers fail (as a small model sometimes does), deterministically.
let localCalls = 0;
ollama.handle((call) =>
  call.path === '/api/chat' && ++localCalls % Math.round(1 / LOCAL_FAILURE) === 0
    ? { status: 500, error: 'model crashed' }
    : undefined,
);

const env = {
  NODE_ENV: 'development',
  DATABASE_URL: await benchDatabase(),
  REDIS_URL,
  OLLAMA_URL: ollama.url,
  FRONTIER_URL: openai.baseUrl,
  FRONTIER_API_KEY: openai.apiKey,
  HEALTH_PORT: '0',
  STORAGE_URL: 'file:/tmp/lowburn-bench-objects',
  LOG_LEVEL: 'silent',
};
const log = createLogger({ level: 'silent' });
const redis = new Redis(REDIS_URL);
const requests = zipfWorkload({
  requests: REQUESTS,
  distinct: DISTINCT,
  paraphrased: PARAPHRASED,
  seed: 42,
}).map((a) => a.request);
const say = (line: string) => process.stderr.write(`${line}\n`);

interface Tally {
  cost: number;
  byLayer: Record<string, number>;
  local: number;
  frontier: number;
  fallbacks: number;
  seconds: number;
}

async function configuration(
  name: string,
  options: { layers: readonly CacheLayer[]; alwaysFrontier: boolean },
): Promise<Tally> {
  const prefix = `lbbench-gen-${randomUUID().slice(0, 8)}`;
  const config = loadConfig({ ...env, QUEUE_PREFIX: prefix }).inference;
  let index: SemanticIndex | undefined;
  const pipeline = createGenerationPipeline({
    config,
    redis,
    prefix,
    log,
    layers: options.layers,
    alwaysFrontier: options.alwaysFrontier,
    semanticIndex: async () => {
      index ??= createSemanticIndex({ redis, prefix, dimensions: config.embedDimensions });
      await index.ready;
      return index;
    },
  });
  const tally: Tally = { cost: 0, byLayer: {}, local: 0, frontier: 0, fallbacks: 0, seconds: 0 };
  const started = performance.now();
  await runAll(requests, IN_FLIGHT, async (request) => {
    const outcome: GenerationOutcome = await pipeline.generate(request);
    tally.cost += outcome.costUsd;
    if (outcome.layer) tally.byLayer[outcome.layer] = (tally.byLayer[outcome.layer] ?? 0) + 1;
    if (outcome.route === 'local') tally.local++;
    if (outcome.route === 'frontier') tally.frontier++;
    if (outcome.fallback) tally.fallbacks++;
  });
  tally.seconds = (performance.now() - started) / 1000;
  await index?.close();
  await deletePrefix(redis, prefix);
  say(
    `${name}: $${tally.cost.toFixed(4)} in ${round(tally.seconds)} s, ${JSON.stringify(tally.byLayer)}, local ${tally.local}, frontier ${tally.frontier}`,
  );
  return tally;
}

say(`${REQUESTS.toLocaleString('en')} requests over ${DISTINCT.toLocaleString('en')} prompts…`);
const frontierOnly = await configuration('frontier only', { layers: [], alwaysFrontier: true });
const exactOnly = await configuration('exact cache only', {
  layers: ['exact'],
  alwaysFrontier: true,
});
const full = await configuration('lowburn', {
  layers: ['precomputed', 'exact', 'template', 'semantic'],
  alwaysFrontier: false,
});

// A cache-hit job through a real worker: prime one answer, then time identical jobs.
const prefix = `lbbench-hit-${randomUUID().slice(0, 8)}`;
const config = loadConfig({ ...env, QUEUE_PREFIX: prefix });
const worker = await startWorker({ config, catalog: { generate: generateJob }, log });
const queues = new Queues({ connection: redis, prefix });
const eventsConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const events = new QueueEvents('generate', { connection: eventsConnection, prefix });
await events.waitUntilReady();
const payload = {
  apiKeyId: randomUUID(),
  userId: 'bench',
  taskType: 'summary' as const,
  prompt: 'Summarize this article about red shoes',
};
await (await queues.add(generateQueue, payload)).waitUntilFinished(events, 30_000);
const hitMs: number[] = [];
for (let i = 0; i < HIT_JOBS; i++) {
  const job = await queues.add(generateQueue, payload);
  await job.waitUntilFinished(events, 30_000);
  const done = await queues.get(generateQueue).getJob(job.id ?? '');
  if (done?.finishedOn && done.processedOn) hitMs.push(done.finishedOn - done.processedOn);
}
hitMs.sort((a, b) => a - b);
await worker.stop();
await queues.close();
await events.close();
await eventsConnection.quit();
await deletePrefix(redis, prefix);
say(
  `cache-hit job: p50 ${percentile(hitMs, 50)} ms, p99 ${percentile(hitMs, 99)} ms over ${hitMs.length}`,
);

say(
  `semantic lookup at ${SEMANTIC_ENTRIES.toLocaleString('en')} × 768 (building the index takes minutes)…`,
);
const semantic = await measureSemanticLookup({ entries: SEMANTIC_ENTRIES, dimensions: 768 });
say(
  `  p50 ${round(semantic.lookupP50Ms, 3)} ms, p99 ${round(semantic.lookupP99Ms, 3)} ms, ${round(semantic.rssMbPer100k, 0)} MB per 100k; recording the hit (SEMANTIC_MAX_ENTRIES): p50 ${round(semantic.lookupWithHitP50Ms, 3)} ms, p99 ${round(semantic.lookupWithHitP99Ms, 3)} ms`,
);

await redis.quit();
await Promise.all([ollama.close(), openai.close()]);

const share = (n: number) => round(n / REQUESTS, 4);
console.log(
  JSON.stringify({
    bench: 'generate',
    requests: REQUESTS,
    distinct_prompts: DISTINCT,
    hit_rate_by_layer: Object.fromEntries(
      ['precomputed', 'exact', 'template', 'semantic'].map((l) => [l, share(full.byLayer[l] ?? 0)]),
    ),
    local_share: share(full.local),
    fallback_share: share(full.fallbacks),
    frontier_share: share(full.frontier),
    cost_full: round(full.cost, 4),
    cost_exact_only: round(exactOnly.cost, 4),
    cost_frontier_only: round(frontierOnly.cost, 4),
    cost_ratio: round(full.cost / frontierOnly.cost, 4),
    hit_job_p50_ms: percentile(hitMs, 50),
    hit_job_p99_ms: percentile(hitMs, 99),
    semantic_lookup_p99_ms_100k: round(semantic.lookupP99Ms, 3),
    semantic_lookup_with_hit_p99_ms_100k: round(semantic.lookupWithHitP99Ms, 3),
    semantic_entries: SEMANTIC_ENTRIES,
    semantic_rss_mb_per_100k: round(semantic.rssMbPer100k, 0),
  }),
);
