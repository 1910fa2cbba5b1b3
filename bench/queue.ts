// npm run bench:queue — with each worker ready on an empty queue, 20,000 no-op jobs are added
// in bulks and timed until drained: through the lowburn runtime (registry, payload parsing,
// timeout signal, metrics, logging) against a raw BullMQ Worker on the same Redis, same run.
// Then the idle RSS of a real `lowburn worker`, as the deployed worker runs it (the image's
// build, the compose worker service's node flags) and from the sources.
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { loadConfig } from '../shared/config/load-config.ts';
import { createLogger } from '../shared/log/logger.ts';
import { defineJob } from '../shared/queue/job-definition.ts';
import { startWorker } from '../workers/worker.ts';
import { buildFleet, idleWorkerRssMb, imageNodeArgs } from './idle-worker.ts';
import { benchDatabase, drained, median, REDIS_URL, round } from './support.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const CONCURRENCY = 50;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** An idle worker, as the deployed worker runs it, must stay at or under this. */
const IDLE_RSS_TARGET_MB = 120;

const noop = defineJob({
  queue: 'noop',
  description: 'bench: does nothing',
  schema: z.object({ n: z.number().int() }).strict(),
  options: { concurrency: CONCURRENCY },
  process: async () => undefined,
});

const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const databaseUrl = await benchDatabase();

/** Adds the jobs in bulks of 1,000, as a producer would. */
async function fill(queue: Queue): Promise<void> {
  for (let i = 0; i < JOBS; i += 1_000) {
    const n = Math.min(1_000, JOBS - i);
    await queue.addBulk(
      Array.from({ length: n }, (_, k) => ({
        name: 'noop',
        data: { n: i + k },
        opts: { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 1_000 } },
      })),
    );
  }
}

async function cleanup(queue: Queue) {
  await queue.obliterate({ force: true });
  await queue.close();
}

async function raw(): Promise<number> {
  const prefix = `bench-raw-${randomBytes(3).toString('hex')}`;
  const queue = new Queue('noop', { connection, prefix });
  const worker = new Worker('noop', async () => undefined, {
    connection,
    prefix,
    concurrency: CONCURRENCY,
  });
  await worker.waitUntilReady();
  const started = performance.now();
  await fill(queue);
  await drained(queue);
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await cleanup(queue);
  return JOBS / seconds;
}

async function lowburn(): Promise<number> {
  const prefix = `bench-lb-${randomBytes(3).toString('hex')}`;
  const queue = new Queue('noop', { connection, prefix });
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    HEALTH_PORT: '0',
    LOG_LEVEL: 'info',
  });
  const worker = await startWorker({
    config,
    catalog: { noop },
    log: createLogger({ level: 'info' }),
  });
  const started = performance.now();
  await fill(queue);
  await drained(queue);
  const seconds = (performance.now() - started) / 1000;
  await worker.stop();
  await cleanup(queue);
  return JOBS / seconds;
}

const rawRates: number[] = [];
const lowburnRates: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  // Alternate which goes first, so warm-up and machine noise do not favour one side.
  if (i % 2 === 0) {
    rawRates.push(await raw());
    lowburnRates.push(await lowburn());
  } else {
    lowburnRates.push(await lowburn());
    rawRates.push(await raw());
  }
  console.error(
    `round ${i + 1}: raw ${round(rawRates[i] ?? 0, 0)}/s, lowburn ${round(lowburnRates[i] ?? 0, 0)}/s`,
  );
}
buildFleet();
const stores = { databaseUrl, redisUrl: REDIS_URL };
// The deployed worker's way (the compose worker service's node flags) is the figure the target
// applies to; the checkout's way shows what the compiled build and those flags save.
const rss = await idleWorkerRssMb(imageNodeArgs(), stores);
const rssFromSources = await idleWorkerRssMb(['workers/cli.ts'], stores);
await connection.quit();

const rawPerS = median(rawRates);
const lowburnPerS = median(lowburnRates);
console.log(
  JSON.stringify({
    bench: 'queue',
    jobs: JOBS,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    lowburn_jobs_per_s: round(lowburnPerS, 0),
    raw_jobs_per_s: round(rawPerS, 0),
    ratio: round(lowburnPerS / rawPerS),
    idle_worker_rss_mb: round(rss, 1),
    idle_worker_rss_mb_from_sources: round(rssFromSources, 1),
    idle_worker_rss_target_mb: IDLE_RSS_TARGET_MB,
  }),
);
