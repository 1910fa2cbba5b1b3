// npm run bench:webhooks — webhook deliveries per second to a local receiver through the full
// job, against what a user would write instead: a plain, unsigned `fetch` loop with 50 in flight
// to the same receiver, in the same run.
//
// "The full job" is the path a generation's webhook takes: `enqueueWebhook` (ledger row, BullMQ
// job) from 50 concurrent producers, and `lowburn worker` (its own process, as deployed) running
// deliver-webhook at its concurrency of 50 — ledger read, Standard Webhooks signing, the
// SSRF-checked keep-alive client, ledger write. Throughput is timed like bench:queue: from the
// first enqueue until every delivery is recorded as delivered. The rounds alternate between the
// two paths; the median counts.
//
// Latency (p99_ms) is measured apart, at half the measured job throughput, paced evenly (as
// bench:api does): from the enqueue to BullMQ reporting the job completed. A drain with a
// backlog would only measure the backlog.
//
// The receiver runs in a child process, so it shares the event loop of neither path.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createApiKey } from '../shared/api-keys/api-keys.ts';
import { createDb } from '../shared/db/create-db.ts';
import { createLogger } from '../shared/log/logger.ts';
import { Queues } from '../shared/queue/queues.ts';
import { enqueueWebhook } from '../shared/webhooks/enqueue.ts';
import { deliverWebhookQueue } from '../shared/webhooks/queue.ts';
import { devKeyring } from '../test/fixtures/secrets.ts';
import {
  benchDatabase,
  cpuPer,
  cpuSnapshot,
  databaseOf,
  deletePrefix,
  median,
  percentile,
  REDIS_URL,
  round,
} from './support.ts';
import { paced, saturated, startReceiverProcess, startWorkerProcess } from './webhook-processes.ts';
import { backlogPhase } from './webhooks-backlog.ts';

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 5);
const CONCURRENCY = 50;
// Every delivery of the throughput rounds goes to one receiver, i.e. one endpoint: its cap is
// raised to the worker's concurrency so the rounds measure the path, as before the cap existed.
const ENDPOINT_CONCURRENCY = Number(process.env.BENCH_ENDPOINT_CONCURRENCY ?? CONCURRENCY);

/** A generation result of a realistic size (~1 KB of JSON). */
const result = { text: 'A short answer. '.repeat(50), tokens: { in: 120, out: 240 } };

async function main(): Promise<void> {
  const databaseUrl = await benchDatabase();
  const prefix = `bench-wh-${randomBytes(3).toString('hex')}`;
  const log = createLogger({ level: 'warn' });
  // The producers' pool: the generation pipeline's, in a real fleet.
  const { db } = createDb({ url: databaseUrl, poolMax: 10, log });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const receiver = await startReceiverProcess();
  const key = await createApiKey(
    db,
    { name: 'bench webhooks', scopes: ['generate'] },
    devKeyring(),
  );
  const worker = await startWorkerProcess({
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'info',
    HEALTH_PORT: '0',
    WORKER_QUEUES: 'deliver-webhook,dispatch-webhooks',
    WEBHOOK_ENDPOINT_CONCURRENCY: String(ENDPOINT_CONCURRENCY),
    // The receiver is on the loopback: allowed by address, as tests do; every other address is
    // still refused at connect time.
    WEBHOOK_ALLOW_LIST: '127.0.0.1/32',
    WEBHOOK_ALLOW_HTTP: 'true',
  });
  let stopped: Promise<void> | undefined;
  const stopWorker = () => {
    stopped ??= worker.stop();
    return stopped;
  };
  const queues = new Queues({ connection: redis, prefix });
  const queue = queues.get(deliverWebhookQueue);
  // `waitUntilFinished` listens for the queue's `closing` once per job in flight.
  queue.setMaxListeners(0);
  let sent = 0;
  const enqueue = (onJob?: (job: Job) => void) =>
    enqueueWebhook(
      {
        db,
        enqueue: async (definition, payload, options) => {
          const job = await queues.add(definition, payload, options);
          onJob?.(job);
          return job;
        },
        redis,
        config: { queuePrefix: prefix, webhooks: { endpointConcurrency: ENDPOINT_CONCURRENCY } },
      },
      {
        apiKeyId: key.id,
        jobId: `generate.bench.${++sent}-${randomBytes(4).toString('hex')}`,
        url: receiver.url,
        event: { type: 'generation.completed', result, metadata: { n: sent } },
      },
    );
  const body = JSON.stringify({
    type: 'generation.completed',
    timestamp: new Date(),
    data: result,
  });
  /** The reference: what a user without lowburn would write. */
  const plainFetch = async () => {
    const response = await fetch(receiver.url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    await response.arrayBuffer();
    if (response.status !== 204) throw new Error(`receiver answered ${response.status}`);
  };
  /** N deliveries through the full job, timed until the last is recorded as delivered. */
  const viaJob = async (count: number) => {
    const t0 = performance.now();
    await saturated(count, CONCURRENCY, () => enqueue());
    // The ledger, not BullMQ: a delivery past the endpoint's slots waits in Postgres, jobless.
    // One row, not a count: checked every 10 ms, a count of the thousands pending was most of
    // the Postgres CPU this bench reported per delivery.
    for (;;) {
      const left = await db
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('api_key_id', '=', key.id)
        .where('status', '=', 'pending')
        .limit(1)
        .executeTakeFirst();
      if (!left) break;
      await sleep(10);
    }
    return count / ((performance.now() - t0) / 1000);
  };

  let events: QueueEvents | undefined;
  try {
    await viaJob(Math.min(1_000, DELIVERIES));
    await saturated(Math.min(1_000, DELIVERIES), CONCURRENCY, plainFetch);
    const job: number[] = [];
    const plain: number[] = [];
    // CPU per delivery in each process (µs), summed over the rounds: where the job path's cost is.
    const pids = { bench: process.pid, worker: worker.pid, receiver: receiver.pid };
    // This run's database only: other checkouts' tests share the Postgres server. The Redis
    // server is shared too, and its figure counts whatever else it serves meanwhile.
    const scope = {
      database: databaseOf(databaseUrl),
      redisPort: Number(new URL(REDIS_URL).port || 6379),
    };
    const jobCpu: Record<string, number>[] = [];
    const plainCpu: Record<string, number>[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      let before = cpuSnapshot(pids, scope);
      job.push(await viaJob(DELIVERIES));
      jobCpu.push(cpuPer(before, cpuSnapshot(pids, scope), DELIVERIES));
      before = cpuSnapshot(pids, scope);
      plain.push(await saturated(DELIVERIES, CONCURRENCY, plainFetch));
      plainCpu.push(cpuPer(before, cpuSnapshot(pids, scope), DELIVERIES));
      console.error(
        `round ${r}: ${DELIVERIES} deliveries through the job at ${round(job.at(-1) ?? 0, 0)}/s, plain fetch ${round(plain.at(-1) ?? 0, 0)}/s`,
      );
    }
    const medianCpu = (rounds: Record<string, number>[]) =>
      Object.fromEntries(
        Object.keys(rounds[0] ?? {}).map((name) => [name, median(rounds.map((c) => c[name] ?? 0))]),
      );
    const describeCpu = (cpu: Record<string, number>) =>
      Object.entries(cpu)
        .filter(([, us]) => us > 0)
        .map(([name, us]) => `${name} ${us}`)
        .join(', ');
    console.error(
      `CPU per delivery, µs (median round): via the job: ${describeCpu(medianCpu(jobCpu))} (bench = the producers: ledger row and queue.add); plain fetch: ${describeCpu(medianCpu(plainCpu))}`,
    );
    const deliveriesPerS = median(job);
    const plainPerS = median(plain);

    events = new QueueEvents(deliverWebhookQueue.queue, { connection: { url: REDIS_URL }, prefix });
    await events.waitUntilReady();
    const listening = events;
    const rate = Number(process.env.BENCH_PACED_RATE ?? deliveriesPerS / 2);
    const jobLatencies = await paced(rate, PACED_SECONDS, async () => {
      let added: Job | undefined;
      await enqueue((job) => {
        added = job;
      });
      await added?.waitUntilFinished(listening, 30_000);
    });
    const plainLatencies = await paced(rate, PACED_SECONDS, plainFetch);
    console.error(
      `paced at ${round(rate, 0)}/s: via the job p50 ${round(percentile(jobLatencies, 50), 1)} ms, p99 ${round(percentile(jobLatencies, 99), 1)} ms; plain fetch p50 ${round(percentile(plainLatencies, 50), 1)} ms, p99 ${round(percentile(plainLatencies, 99), 1)} ms`,
    );

    const counts = await db
      .selectFrom('webhook_deliveries')
      .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
      .where('api_key_id', '=', key.id)
      .groupBy('status')
      .execute();
    const expected = sent;
    const succeeded = Number(counts.find((c) => c.status === 'succeeded')?.n ?? 0);
    if (succeeded !== expected) {
      throw new Error(`${expected} deliveries enqueued, ${JSON.stringify(counts)} in the ledger`);
    }
    console.error(`ledger: all ${succeeded} deliveries recorded as succeeded`);
    // This worker stops first: its dispatcher reads the same database, and would queue the
    // backlog phase's deliveries into its own Redis, past that phase's slots.
    await stopWorker();
    const backlog = process.env.BENCH_SKIP_BACKLOG ? {} : await backlogPhase(databaseUrl, db);
    console.log(
      JSON.stringify({
        bench: 'webhooks',
        deliveries_per_s: round(deliveriesPerS, 0),
        plain_fetch_per_s: round(plainPerS, 0),
        ratio: round(deliveriesPerS / plainPerS),
        p99_ms: round(percentile(jobLatencies, 99), 1),
        cpu_us_per_delivery: medianCpu(jobCpu),
        ...backlog,
      }),
    );
  } finally {
    await events?.close();
    await stopWorker();
    await queues.close();
    await db.deleteFrom('webhook_deliveries').where('api_key_id', '=', key.id).execute();
    await db.deleteFrom('api_keys').where('id', '=', key.id).execute();
    await deletePrefix(redis, prefix);
    await redis.quit();
    await db.destroy();
    receiver.stop();
  }
}

await main();
