// npm run bench:cluster — the fleet on a six-node Redis Cluster (three masters, three replicas,
// loopback) against one Redis with the same settings (AOF everysec, noeviction), same run,
// rounds alternating which goes first: bench:queue's throughput round (no-op jobs through the
// lowburn worker runtime, added in bulks, timed until drained) and telemetry ingest through the
// real API (bench:telemetry's autocannon child) then the batched flush into Postgres. Prints
// cluster ÷ single for each. Both Redis setups are private children of this run, so the
// shared Redis's settings (no AOF in CI) do not flatter the single side.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { z } from 'zod';
import { createApiKey } from '../shared/api-keys/api-keys.ts';
import { loadConfig } from '../shared/config/load-config.ts';
import { createDb, type Db } from '../shared/db/create-db.ts';
import { createLogger } from '../shared/log/logger.ts';
import { defineJob } from '../shared/queue/job-definition.ts';
import { createWorkerConnection, type RedisTarget } from '../shared/redis/connections.ts';
import { flushTelemetry } from '../shared/telemetry/flush.ts';
import { startRedisCluster } from '../test/fixtures/redis-cluster.ts';
import { startRedisServer } from '../test/fixtures/redis-server.ts';
import { devKeyring } from '../test/fixtures/secrets.ts';
import { startApi } from '../workers/api.ts';
import { startWorker } from '../workers/worker.ts';
import { benchDatabase, deletePrefix, drained, median, round } from './support.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = 50;
const log = createLogger({ level: 'warn' });

const noop = defineJob({
  queue: 'noop',
  description: 'bench: does nothing',
  schema: z.object({ n: z.number().int() }).strict(),
  options: { concurrency: CONCURRENCY },
  process: async () => undefined,
});

const env = (target: Required<RedisTarget>, databaseUrl: string, prefix: string) => ({
  DATABASE_URL: databaseUrl,
  REDIS_URL: target.url,
  REDIS_CLUSTER: String(target.cluster),
  QUEUE_PREFIX: prefix,
  HEALTH_PORT: '0',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_KEY: '1000000',
  TELEMETRY_BUFFER_CAP: '100000000',
});

/** CPU seconds every `redis-server` of a setup has used so far (its own `INFO cpu`). */
async function redisCpuSeconds(ports: readonly number[]): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
    await node.connect();
    const info = await node.info('cpu');
    node.disconnect();
    for (const field of ['used_cpu_sys', 'used_cpu_user']) {
      total += Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    }
  }
  return total;
}

interface QueueRound {
  perS: number;
  /** This process's CPU (producer and worker) per job, µs. */
  nodeUsPerJob: number;
  /** Every redis-server's CPU (a cluster's replicas too) per job, µs. */
  redisUsPerJob: number;
}

/** bench:queue's round: jobs/s from the first bulk added until the queue is drained. */
async function queueRound(
  target: Required<RedisTarget>,
  databaseUrl: string,
  ports: readonly number[],
): Promise<QueueRound> {
  const prefix = `{bench-q-${randomBytes(3).toString('hex')}}`;
  const connection = createWorkerConnection(target);
  const queue = new Queue('noop', { connection, prefix });
  const worker = await startWorker({
    config: loadConfig(env(target, databaseUrl, prefix)),
    catalog: { noop },
    log,
  });
  const redisBefore = await redisCpuSeconds(ports);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < JOBS; i += 1_000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1_000, JOBS - i) }, (_, k) => ({
        name: 'noop',
        data: { n: i + k },
        opts: { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 1_000 } },
      })),
    );
  }
  await drained(queue);
  const perS = JOBS / ((performance.now() - started) / 1000);
  const cpu = process.cpuUsage(cpuBefore);
  const redisUsPerJob = (((await redisCpuSeconds(ports)) - redisBefore) * 1e6) / JOBS;
  await worker.stop();
  await queue.obliterate({ force: true });
  await queue.close();
  await deletePrefix(connection, prefix);
  connection.disconnect();
  return { perS, nodeUsPerJob: (cpu.user + cpu.system) / JOBS, redisUsPerJob };
}

/** Telemetry: pings/s through the API for SECONDS, then rows/s of the flush that writes them. */
async function telemetryRound(
  target: Required<RedisTarget>,
  databaseUrl: string,
  db: Db,
): Promise<{ ingest: number; flush: number; overall: number }> {
  const prefix = `{bench-t-${randomBytes(3).toString('hex')}}`;
  const redis = createWorkerConnection(target);
  await sql`TRUNCATE telemetry, telemetry_late`.execute(db);
  const api = await startApi({
    config: loadConfig(env(target, databaseUrl, prefix)),
    log,
    port: 0,
  });
  const created = await createApiKey(
    db,
    { name: 'bench cluster', scopes: ['telemetry'] },
    devKeyring(),
  );
  let load: { '2xx': number; duration: number };
  try {
    load = await autocannonChild(`http://127.0.0.1:${api.port}`, created.key);
  } finally {
    await api.stop();
    await db.deleteFrom('api_keys').where('id', '=', created.id).execute();
  }
  const started = performance.now();
  const flushed = await flushTelemetry({
    redis,
    db,
    prefix,
    log,
    batchSize: 5_000,
    budgetMs: 600_000,
    consumer: 'bench',
    lanes: 2,
  });
  const flushSeconds = (performance.now() - started) / 1000;
  await deletePrefix(redis, prefix);
  redis.disconnect();
  if (!flushed.drained) throw new Error(`the flush did not drain: ${JSON.stringify(flushed)}`);
  // Pings the API accepted (its warm-up included) over the time to take them in and write them.
  const ingest = (load['2xx'] * 100) / load.duration;
  const flush = flushed.inserted / flushSeconds;
  return { ingest, flush, overall: 1 / (1 / ingest + 1 / flush) };
}

/** bench:telemetry's load child (autocannon, 50 connections, 100 unique pings a request). */
function autocannonChild(url: string, key: string): Promise<{ '2xx': number; duration: number }> {
  const child = spawn(
    process.execPath,
    [new URL('./telemetry.ts', import.meta.url).pathname, 'load', url, key, String(SECONDS)],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH ?? '' } },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line) resolve(JSON.parse(line));
      else reject(new Error(`load generator exited with ${code}:\n${out}`));
    });
  });
}

const databaseUrl = await benchDatabase();
const { db } = createDb({ url: databaseUrl, poolMax: 10, log });
const single = await startRedisServer();
// BENCH_REPLICAS=0 shows what the replica of the fleet’s master costs on the same two cores.
const cluster = await startRedisCluster({
  masters: 3,
  replicas: Number(process.env.BENCH_REPLICAS ?? 1),
});
// Stopped early (Ctrl-C), the run still takes its seven redis-servers down with it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.all([cluster.close(), single.close()]).finally(() => process.exit(130));
  });
}
const targets = {
  single: { url: single.url, cluster: false },
  cluster: { url: cluster.url, cluster: true },
} as const;
const ports = { single: [single.port], cluster: cluster.nodes.map((n) => n.port) };
const rates = {
  single: {
    queue: [] as number[],
    telemetry: [] as number[],
    node: [] as number[],
    redis: [] as number[],
  },
  cluster: {
    queue: [] as number[],
    telemetry: [] as number[],
    node: [] as number[],
    redis: [] as number[],
  },
};
const load = [loadavg()[0]!];
try {
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? (['single', 'cluster'] as const) : (['cluster', 'single'] as const);
    for (const side of order) {
      const queue = await queueRound(targets[side], databaseUrl, ports[side]);
      const telemetry = await telemetryRound(targets[side], databaseUrl, db);
      rates[side].queue.push(queue.perS);
      rates[side].node.push(queue.nodeUsPerJob);
      rates[side].redis.push(queue.redisUsPerJob);
      rates[side].telemetry.push(telemetry.overall);
      console.error(
        `round ${i + 1} ${side}: queue ${round(queue.perS, 0)} jobs/s (CPU per job: node ${round(queue.nodeUsPerJob, 0)} µs, redis ${round(queue.redisUsPerJob, 0)} µs); telemetry ingest ${round(telemetry.ingest, 0)} pings/s, flush ${round(telemetry.flush, 0)} rows/s, together ${round(telemetry.overall, 0)}/s`,
      );
      load.push(loadavg()[0]!);
    }
  }
} finally {
  await sql`TRUNCATE telemetry, telemetry_late`.execute(db);
  await db.destroy();
  await cluster.close();
  await single.close();
}
const ratio = (kind: 'queue' | 'telemetry') =>
  round(median(rates.cluster[kind]) / median(rates.single[kind]));
console.error(
  `load average (1 min) during the run: ${load.map((l) => round(l, 1)).join(', ')} on 2 cores; ${ROUNDS} rounds each, medians compared`,
);
console.log(
  JSON.stringify({
    bench: 'cluster',
    queue_ratio: ratio('queue'),
    telemetry_ratio: ratio('telemetry'),
    single_jobs_per_s: round(median(rates.single.queue), 0),
    cluster_jobs_per_s: round(median(rates.cluster.queue), 0),
    single_job_cpu_us: {
      node: round(median(rates.single.node), 0),
      redis: round(median(rates.single.redis), 0),
    },
    cluster_job_cpu_us: {
      node: round(median(rates.cluster.node), 0),
      redis: round(median(rates.cluster.redis), 0),
    },
    single_telemetry_per_s: round(median(rates.single.telemetry), 0),
    cluster_telemetry_per_s: round(median(rates.cluster.telemetry), 0),
    rounds: ROUNDS,
    load_avg_1m: round(Math.max(...load), 1),
  }),
);
