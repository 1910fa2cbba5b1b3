// npm run bench:telemetry — the telemetry path on one machine, in one run: pings ingested
// through the real API (POST /v1/telemetry, 100 unique pings per request), the batched flush of
// what was ingested into Postgres, and the naive path a user would write instead (one
// INSERT … ON CONFLICT DO NOTHING per ping) on the same Postgres. `ratio` is against that path
// with ten inserts in flight (a server inserting each request's ping as it comes); the issue's
// own reference figure (~1,650 rows/s) is one loop of inserts, printed as
// `ratio_vs_one_at_a_time`.
//
// The load comes from a child process (this file again, with `load`): autocannon in the API's
// own process would share its one event loop and measure the client as much as the server.
// autocannon (50 connections, like 50 fetch loops) has a lean raw-HTTP client, reports latency
// percentiles itself, and its `setupRequest` hook gives every request a fresh body of unique
// ping ids; the bench prints how much of a core the generator took, since it shares the machine.

import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { newPingId } from '../api/client/send-telemetry.ts';
import { createApiKey } from '../shared/api-keys/api-keys.ts';
import { loadConfig } from '../shared/config/load-config.ts';
import { createDb, type Db } from '../shared/db/create-db.ts';
import { createLogger } from '../shared/log/logger.ts';
import { bufferStats } from '../shared/telemetry/buffer.ts';
import { flushTelemetry } from '../shared/telemetry/flush.ts';
import type { Ping } from '../shared/telemetry/ping.ts';
import { devKeyring } from '../test/fixtures/secrets.ts';
import { writeCounter } from '../test/fixtures/write-counter.ts';
import { startApi } from '../workers/api.ts';
import {
  type Autocannon,
  benchDatabase,
  cpuPer,
  cpuSnapshot,
  deletePrefix,
  REDIS_URL,
  round,
} from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const CONNECTIONS = 50;
const PINGS_PER_REQUEST = 100;
const FLUSH_BATCH = 5_000;
const NAIVE_PINGS = Number(process.env.BENCH_NAIVE_PINGS ?? 20_000);
const NAIVE_IN_FLIGHT = 10;

// Ping ids as the client makes them (UUIDv7, time-ordered); BENCH_PING_IDS=v4 for random ones.
const pingId = process.env.BENCH_PING_IDS === 'v4' ? randomUUID : newPingId;
const ping = (): Ping => ({
  pingId: pingId(),
  deviceId: `device-${Math.floor(Math.random() * 1_000)}`,
  ts: new Date().toISOString(),
  metric: 'temp.c',
  value: Math.round(Math.random() * 4_000) / 100,
  attrs: { fw: '1.2.0' },
});

/** Child mode: drives the API for `seconds` and prints autocannon's summary as one JSON line. */
async function load(url: string, key: string, seconds: number): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const run = (duration: number) =>
    autocannon({
      url,
      connections: CONNECTIONS,
      duration,
      requests: [
        {
          method: 'POST',
          path: '/v1/telemetry',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          setupRequest: (request) => ({
            ...request,
            body: JSON.stringify(Array.from({ length: PINGS_PER_REQUEST }, ping)),
          }),
        },
      ],
    });
  await run(WARMUP_SECONDS);
  const cpu = process.cpuUsage();
  const result = await run(seconds);
  const { user, system } = process.cpuUsage(cpu);
  // How much of a core the load generator itself took: on 2 cores, it competes with the API.
  const cpuPercent = (user + system) / 10_000 / result.duration;
  process.stdout.write(`${JSON.stringify({ ...result, cpuPercent })}\n`);
}

/** Runs the load child against the API and returns its measured (post-warm-up) summary. */
type LoadResult = Awaited<ReturnType<Autocannon>> & { cpuPercent: number };

function ingest(url: string, key: string): Promise<LoadResult> {
  const child = spawn(process.execPath, [import.meta.filename, 'load', url, key, String(SECONDS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH ?? '' },
  });
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

/** One `INSERT … ON CONFLICT DO NOTHING` per ping, `inFlight` at a time → rows/s. */
async function naive(db: Db, count: number, inFlight: number): Promise<number> {
  const pings = Array.from({ length: count }, ping);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let p = pings[next++]; p; p = pings[next++]) {
        await db
          .insertInto('telemetry')
          .values({
            ping_id: p.pingId,
            device_id: p.deviceId,
            user_id: p.userId ?? null,
            ts: p.ts,
            metric: p.metric,
            value: p.value,
            attrs: p.attrs ? JSON.stringify(p.attrs) : null,
          })
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const databaseUrl = await benchDatabase();
  const prefix = `bench-tel-${randomBytes(3).toString('hex')}`;
  const log = createLogger({ level: 'warn' });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const { db } = createDb({ url: databaseUrl, poolMax: 10, log });
  const truncate = () => sql`TRUNCATE telemetry, telemetry_late`.execute(db);
  let keyId: string | undefined;
  try {
    await truncate();
    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_KEY: '1000000',
      TELEMETRY_BUFFER_CAP: '100000000',
    });
    const api = await startApi({ config, log, port: 0 });
    const created = await createApiKey(
      db,
      { name: 'bench telemetry', scopes: ['telemetry'] },
      devKeyring(),
    );
    keyId = created.id;
    const { key } = created;
    let ingested: LoadResult;
    // Includes the warm-up: the API's share of one core while it was under load.
    const apiCpu = process.cpuUsage();
    const apiStarted = performance.now();
    try {
      ingested = await ingest(`http://127.0.0.1:${api.port}`, key);
    } finally {
      await api.stop();
    }
    const { user, system } = process.cpuUsage(apiCpu);
    const apiCpuPercent = (user + system) / 10 / (performance.now() - apiStarted);
    const ingestPerS = (ingested['2xx'] * PINGS_PER_REQUEST) / ingested.duration;
    const buffered = (await bufferStats(redis, prefix)).depth;
    console.error(
      `ingest: ${ingested['2xx']} requests accepted (${ingested.non2xx} non-2xx, ${ingested.errors} errors) in ${ingested.duration} s → ${round(ingestPerS, 0)} pings/s, p50 ${ingested.latency.p50} ms, p99 ${ingested.latency.p99} ms; ${buffered} pings buffered; CPU: API ${round(apiCpuPercent, 0)}%, load generator ${round(ingested.cpuPercent, 0)}% of a core`,
    );

    const { counted, plugin } = writeCounter();
    const cpuBefore = cpuSnapshot({ node: process.pid });
    const started = performance.now();
    const flushed = await flushTelemetry({
      redis,
      db: db.withPlugin(plugin),
      prefix,
      log,
      batchSize: FLUSH_BATCH,
      budgetMs: 600_000,
      consumer: 'bench',
      lanes: Number(process.env.BENCH_LANES ?? 2),
    });
    const flushSeconds = (performance.now() - started) / 1000;
    const cpuAfter = cpuSnapshot({ node: process.pid });
    if (!flushed.drained || flushed.inserted !== buffered) {
      throw new Error(`flush did not write what was ingested: ${JSON.stringify(flushed)}`);
    }
    const flushPerS = flushed.inserted / flushSeconds;
    const writesPer10k = (counted.writes / flushed.inserted) * 10_000;
    console.error(
      `flush: ${flushed.inserted} rows in ${flushed.batches} batches, ${round(flushSeconds)} s → ${round(flushPerS, 0)} rows/s, ${counted.writes} write statements (${flushed.rewrites} batches rewritten with ON CONFLICT)`,
    );
    // Nanoseconds of CPU per flushed ping in each process: steadier than rows/s on a noisy VM.
    const cpu = cpuPer(cpuBefore, cpuAfter, flushed.inserted / 1000);
    console.error(
      `flush CPU per ping: Node ${round(cpu.node ?? 0, 0)} ns, Postgres ${round(cpu.postgres ?? 0, 0)} ns, Redis ${round(cpu.redis ?? 0, 0)} ns`,
    );

    await truncate();
    // The reference: a handler inserting each ping as it arrives, ten requests at a time.
    const naivePerS = await naive(db, NAIVE_PINGS, NAIVE_IN_FLIGHT);
    console.error(
      `naive: ${NAIVE_PINGS} single-row INSERTs, ${NAIVE_IN_FLIGHT} in flight → ${round(naivePerS, 0)} rows/s`,
    );
    // For comparison with the figure (~1,650 rows/s), which one loop of INSERTs gives.
    await truncate();
    const sequentialPerS = await naive(db, NAIVE_PINGS / 4, 1);
    console.error(
      `naive, one at a time: ${NAIVE_PINGS / 4} single-row INSERTs → ${round(sequentialPerS, 0)} rows/s (flush ${round(flushPerS / sequentialPerS, 1)}×)`,
    );

    console.log(
      JSON.stringify({
        bench: 'telemetry',
        ingest_pings_per_s: round(ingestPerS, 0),
        ingest_p99_ms: ingested.latency.p99,
        flush_rows_per_s: round(flushPerS, 0),
        naive_rows_per_s: round(naivePerS, 0),
        ratio: round(flushPerS / naivePerS, 1),
        naive_one_at_a_time_rows_per_s: round(sequentialPerS, 0),
        ratio_vs_one_at_a_time: round(flushPerS / sequentialPerS, 1),
        write_statements_per_10k: round(writesPer10k, 2),
      }),
    );
  } finally {
    await truncate();
    if (keyId) await db.deleteFrom('api_keys').where('id', '=', keyId).execute();
    await deletePrefix(redis, prefix);
    await db.destroy();
    await redis.quit();
  }
}

if (process.argv[2] === 'load') {
  const [url = '', key = '', seconds = '10'] = process.argv.slice(3);
  await load(url, key, Number(seconds));
} else {
  await main();
}
