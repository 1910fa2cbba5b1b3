// npm run bench:api — POST /v1/generations through the real API (key auth, per-key and per-user
// rate limits in Redis, body validation, payload parse, BullMQ add) against what a user would
// write instead: BullMQ `queue.add` from their own process, same Redis, same payload, same run.
// The API is driven at its maximum rate (autocannon, 50 connections), then at half of that rate
// for the p99 a caller sees when the server is not saturated.
//
// The load comes from a child process (this file again, with `load` or `paced`): a client in
// the API's own process would share its one event loop and measure the client as much as the
// server. On 2 cores that leaves the API one core while the load generator and Redis share the
// other.
//
// The half-rate run is paced here rather than with autocannon's `overallRate`: autocannon gives
// each connection a per-second budget it spends back to back and then idles until the next
// second, so at "half rate" the server still sees 50-connection bursts and the p99 is that of
// saturation (and its coordinated-omission correction assumes a 1 ms interval). The paced client
// (`paced-client.ts`, raw keep-alive sockets) sends at evenly spaced times and measures each
// request from the time it was due. Beside the p99 the bench prints the time each request spent
// inside the API and both processes' event-loop delay, so a tail can be placed: a node:http
// client here once showed p99 55–60 ms while the API's own p99 was 16–23 ms (and wrk, closed
// loop, 11 ms) — the client's cost, not the API's.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { newJobId } from '../api/job-ids.ts';
import { createApiKey } from '../shared/api-keys/api-keys.ts';
import { loadConfig } from '../shared/config/load-config.ts';
import { createDb } from '../shared/db/create-db.ts';
import { generateQueue } from '../shared/generation/queue.ts';
import { createLogger } from '../shared/log/logger.ts';
import { bullJobOptions } from '../shared/queue/default-options.ts';
import { createProducerConnection } from '../shared/redis/connections.ts';
import { devKeyring } from '../test/fixtures/secrets.ts';
import { startApi } from '../workers/api.ts';
import { pacedLoad } from './paced-client.ts';
import {
  type Autocannon,
  benchDatabase,
  cpuShare,
  deletePrefix,
  percentile,
  REDIS_URL,
  round,
} from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const CONNECTIONS = 50;
const USERS = 1_000;
// `BENCH_ONLY=api` skips the raw reference (for profiling the API alone).
const ONLY = process.env.BENCH_ONLY;
// `BENCH_BUDGET_USD=1` turns per-user daily budgets on (soft at that, hard at twice it): each
// request then also reads its user's spend (none of the bench's users has any, so all pass).
const BUDGET = process.env.BENCH_BUDGET_USD;
const request = { taskType: 'summary', prompt: 'Summarise: the cat sat on the mat.' };
// Users vary, so the per-user limiter touches 1,000 different keys as in production.
const body = (n: number) => JSON.stringify({ ...request, userId: `user-${n % USERS}` });

type LoadResult = Awaited<ReturnType<Autocannon>> & {
  cpuPercent: number;
  loopDelay?: { p99: number; max: number };
};

/** Child mode: drives the API as fast as it answers, prints autocannon's summary as JSON. */
async function load(url: string, key: string, seconds: number, warmup: number): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  let n = 0;
  const run = (duration: number) =>
    autocannon({
      url,
      connections: CONNECTIONS,
      duration,
      requests: [
        {
          method: 'POST',
          path: '/v1/generations',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          setupRequest: (req) => ({ ...req, body: body(n++) }),
        },
      ],
    });
  if (warmup > 0) await run(warmup);
  const cpu = process.cpuUsage();
  const result = await run(seconds);
  const cpuPercent = cpuShare(process.cpuUsage(cpu), result.duration * 1000);
  process.stdout.write(`${JSON.stringify({ ...result, cpuPercent })}\n`);
}

/**
 * Child mode: sends `rate` requests per second at evenly spaced times over up to CONNECTIONS
 * keep-alive connections (`paced-client.ts`), timing each from when it was due, and prints
 * p50/p99 as JSON.
 */
async function paced(url: string, key: string, seconds: number, rate: number): Promise<void> {
  const target = new URL(url);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpu = process.cpuUsage();
  const result = await pacedLoad({
    host: target.hostname,
    port: Number(target.port),
    rate,
    seconds,
    connections: CONNECTIONS,
    request: (i) => {
      const payload = body(i);
      return Buffer.from(
        `POST /v1/generations HTTP/1.1\r\nHost: ${target.host}\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
      );
    },
  });
  const { latencies } = result;
  process.stdout.write(
    `${JSON.stringify({
      '2xx': latencies.length - result.non2xx,
      non2xx: result.non2xx,
      errors: result.errors,
      duration: round(result.duration),
      latency: {
        p50: round(percentile(latencies, 50), 1),
        p99: round(percentile(latencies, 99), 1),
      },
      cpuPercent: cpuShare(process.cpuUsage(cpu), result.duration * 1000),
      // The generator's own stalls: they delay sends and count against the API's latency.
      loopDelay: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    })}\n`,
  );
}

/** Runs this file as a load child (`load` or `paced`) and returns its measured summary. */
function child(mode: 'load' | 'paced', args: (string | number)[]): Promise<LoadResult> {
  const child = spawn(process.execPath, [import.meta.filename, mode, ...args.map(String)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH ?? '' },
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk;
  });
  return new Promise<LoadResult>((resolve, reject) => {
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line) resolve(JSON.parse(line));
      else reject(new Error(`${mode} load generator exited with ${code}:\n${out}`));
    });
  });
}

/**
 * The reference: `queue.add` from this process with CONNECTIONS adds in flight for `seconds`, on
 * a connection configured like the API's producer, with the API's job options and job ids.
 */
async function rawAdds(prefix: string, apiKeyId: string, seconds: number): Promise<number> {
  const connection = createProducerConnection(REDIS_URL, { enableAutoPipelining: true });
  const queue = new Queue(generateQueue.queue, {
    connection,
    prefix,
    defaultJobOptions: bullJobOptions(generateQueue.options),
  });
  await queue.waitUntilReady();
  const addFor = async (ms: number) => {
    let added = 0;
    const started = performance.now();
    const until = started + ms;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < until) {
          const data = { ...request, userId: `user-${added % USERS}`, apiKeyId };
          await queue.add(generateQueue.queue, data, {
            jobId: newJobId(generateQueue.queue, apiKeyId),
          });
          added++;
        }
      }),
    );
    return added / ((performance.now() - started) / 1000);
  };
  try {
    await addFor(WARMUP_SECONDS * 1000);
    return await addFor(seconds * 1000);
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
    await connection.quit();
  }
}

async function main(): Promise<void> {
  const databaseUrl = await benchDatabase();
  const prefix = `bench-api-${randomBytes(3).toString('hex')}`;
  const log = createLogger({ level: 'warn' });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const { db } = createDb({ url: databaseUrl, poolMax: 2, log });
  const queue = new Queue(generateQueue.queue, { connection: redis, prefix });
  let keyId: string | undefined;
  try {
    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_KEY: '1000000',
      RATE_LIMIT_PER_USER: '1000000',
      ...(BUDGET && {
        USER_DAILY_BUDGET_USD: BUDGET,
        USER_DAILY_BUDGET_USD_HARD: String(Number(BUDGET) * 2),
      }),
    });
    const api = await startApi({ config, log, port: 0 });
    const created = await createApiKey(
      db,
      { name: 'bench api', scopes: ['generate'] },
      devKeyring(),
    );
    keyId = created.id;
    const url = `http://127.0.0.1:${api.port}`;
    let max: LoadResult;
    let half: LoadResult;
    let apiCpuPercent: number;
    let loopDelay = { p99: 0, max: 0 };
    let serverTime = { p50: 0, p99: 0 };
    try {
      const cpu = process.cpuUsage();
      const started = performance.now();
      max = await child('load', [url, created.key, SECONDS, WARMUP_SECONDS]);
      // Includes the warm-up: the API's share of a core while it was under full load.
      apiCpuPercent = cpuShare(process.cpuUsage(cpu), performance.now() - started);
      const halfRate = Math.round(max['2xx'] / max.duration / 2);
      // The API's event-loop delay while paced: a stall here delays every request in flight.
      const loop = monitorEventLoopDelay({ resolution: 1 });
      loop.enable();
      // …and the time each request spent in the API, from its arrival to its answer's end.
      const inApi = createHistogram();
      const time = (_req: IncomingMessage, res: ServerResponse) => {
        const arrived = performance.now();
        res.once('finish', () =>
          inApi.record(Math.max(1, Math.round((performance.now() - arrived) * 1000))),
        );
      };
      api.server.on('request', time);
      half = await child('paced', [url, created.key, SECONDS, halfRate]);
      api.server.off('request', time);
      loop.disable();
      loopDelay = { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
      serverTime = { p50: inApi.percentile(50) / 1e3, p99: inApi.percentile(99) / 1e3 };
    } finally {
      await api.stop();
    }
    const apiPerS = max['2xx'] / max.duration;
    const queued = await queue.count();
    console.error(
      `api max: ${max['2xx']} accepted (${max.non2xx} non-2xx, ${max.errors} errors, ${max.timeouts} timeouts) in ${max.duration} s → ${round(apiPerS, 0)} req/s, p50 ${max.latency.p50} ms, p99 ${max.latency.p99} ms; CPU: API ${round(apiCpuPercent, 0)}%, load generator ${round(max.cpuPercent, 0)}% of a core`,
    );
    console.error(
      `api at half rate (paced): ${round(half['2xx'] / half.duration, 0)} req/s, p50 ${half.latency.p50} ms, p99 ${half.latency.p99} ms (${half.non2xx} non-2xx, ${half.errors} errors); load generator ${round(half.cpuPercent, 0)}% of a core; time in the API p50 ${round(serverTime.p50, 1)} ms, p99 ${round(serverTime.p99, 1)} ms; event-loop delay p99/max: API ${round(loopDelay.p99, 1)}/${round(loopDelay.max, 1)} ms, load generator ${round(half.loopDelay?.p99 ?? 0, 1)}/${round(half.loopDelay?.max ?? 0, 1)} ms; ${queued} jobs queued in all`,
    );

    const rawPerS = ONLY === 'api' ? 0 : await rawAdds(`${prefix}-raw`, created.id, SECONDS);
    console.error(`raw queue.add: ${round(rawPerS, 0)} adds/s with ${CONNECTIONS} in flight`);

    console.log(
      JSON.stringify({
        bench: 'api',
        api_req_per_s: round(apiPerS, 0),
        p50_ms: max.latency.p50,
        p99_ms: max.latency.p99,
        p99_ms_at_half_rate: half.latency.p99,
        raw_add_per_s: round(rawPerS, 0),
        ratio: rawPerS > 0 ? round(apiPerS / rawPerS) : null,
        non_2xx: max.non2xx + half.non2xx,
        budgets: Boolean(BUDGET),
      }),
    );
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
    // The rate limiters' keys live under the prefix too.
    await deletePrefix(redis, prefix);
    if (keyId) await db.deleteFrom('api_keys').where('id', '=', keyId).execute();
    await db.destroy();
    await redis.quit();
  }
}

const [mode, url = '', key = '', seconds = '10', rateOrWarmup = '0'] = process.argv.slice(2);
if (mode === 'load') {
  await load(url, key, Number(seconds), Number(rateOrWarmup));
} else if (mode === 'paced') {
  await paced(url, key, Number(seconds), Number(rateOrWarmup));
} else {
  await main();
}
