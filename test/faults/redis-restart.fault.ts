import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { type LoadRecord, startApiLoad } from '../fixtures/api-load.ts';
import { type ModelTestServer, startOllamaServer } from '../fixtures/model-servers.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import { type SpawnedProcess, spawnNode } from '../fixtures/processes.ts';
import { type RedisTestServer, startRedisServer } from '../fixtures/redis-server.ts';
import { devKeyring } from '../fixtures/secrets.ts';
import { waitUntil } from '../fixtures/wait-until.ts';

const WARM_MS = 4_000;
const DOWN_MS = 4_000;
const AFTER_MS = 6_000;
const PREFIX = 'lowburn-fault';
// What a process logs while Redis is away: the connection errors ioredis reports as it retries.
const CONNECTION_LOST =
  /"message":"(connect ECONNREFUSED|read ECONNRESET|write ECONNRESET|write EPIPE|Connection is closed)/;
// A command Redis ran just before it shut down, whose reply was lost, is sent again after the
// reconnect (ioredis resends unanswered commands): a job completed in that instant is
// "completed" again, which BullMQ refuses and logs. The job itself stays completed (checked).
const RESENT_FINISH = /"message":"Missing lock for job ([^ ]+)\. move(ToFinished|ToDelayed)/;

describe('restart Redis under load', () => {
  const database = useTestDatabase();
  let redis: RedisTestServer;
  let ollama: ModelTestServer;
  const processes: SpawnedProcess[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    // Slow enough that jobs are in the middle of a generation when Redis goes away.
    ollama = await startOllamaServer({ latencyMs: 300 });
  });
  afterAll(async () => {
    for (const p of processes) if (p.child.exitCode === null) p.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const p of processes) if (p.child.exitCode === null) p.kill('SIGKILL');
    }, 30_000);
    await Promise.all(processes.map((p) => p.exited));
    clearTimeout(killer);
    await ollama?.close();
    await redis?.close();
  });

  /** `lowburn worker` or `lowburn api` as a child process over the private Redis. */
  const spawnLowburn = async (name: string, command: 'worker' | 'api', ready: string) => {
    const child = spawnNode(name, 'workers/cli.ts', [command], {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: PREFIX,
      WORKER_QUEUES: 'generate,flush-telemetry',
      // 2 workers × 4 generations (an embedding and a chat call of 300 ms each): ~13 jobs/s,
      // under the load's ~30, so a backlog of 202'd jobs waits in Redis when it stops, besides
      // the jobs in flight (without the AOF they are lost, and this test fails).
      WORKER_CONCURRENCY: '4',
      TELEMETRY_FLUSH_EVERY: '1s',
      OLLAMA_URL: ollama.url,
      HEALTH_PORT: '0',
      API_PORT: '0',
      // One key and a few end users make all the load; the limits are not what this run is about.
      RATE_LIMIT_PER_KEY: '100000',
      RATE_LIMIT_PER_USER: '100000',
      RATE_LIMIT_USER_TIERS: '1000000:100000',
      STORAGE_URL: `file:${mkdtempSync(path.join(tmpdir(), 'lowburn-fault-'))}`,
    });
    processes.push(child);
    await child.waitFor(ready, 30_000);
    return child;
  };

  it('answers 503 within 2 s while it is down, and completes every 202’d job once after', async () => {
    const workers = [
      await spawnLowburn('worker A', 'worker', '"worker ready"'),
      await spawnLowburn('worker B', 'worker', '"worker ready"'),
    ];
    const api = await spawnLowburn('api', 'api', '"api ready"');
    const readyLine = api
      .output()
      .split('\n')
      .find((line) => line.includes('"api ready"'));
    const { port } = JSON.parse(readyLine ?? '{}') as { port?: number };
    const { key } = await createApiKey(
      database.db,
      {
        name: 'fault',
        scopes: ['generate', 'telemetry'],
      },
      devKeyring(),
    );

    // 12 clients at up to 5 requests/s each: at most ~650 jobs in the run, under the 1,000
    // completed jobs BullMQ keeps, so every job's final state can be read back.
    const load = startApiLoad({ url: `http://127.0.0.1:${port}`, key, clients: 12 });
    await sleep(WARM_MS);
    const stopping = Date.now();
    await redis.stop();
    const down = Date.now();
    // Once the API has seen its connection close (a probe right at the exit can still race it).
    await sleep(1_000);
    const probed = Date.now();
    const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
    await readyz.arrayBuffer();
    const readyzMs = Date.now() - probed;
    await sleep(down + DOWN_MS - Date.now());
    const starting = Date.now();
    await redis.start();
    const up = Date.now();
    await sleep(AFTER_MS);
    const records = await load.stop();

    // Every request was answered, and only ever with 202 or a 503 that says when to retry.
    expect(
      records.filter((r) => r.status === 0),
      'requests that hung or failed',
    ).toEqual([]);
    expect(new Set(records.map((r) => r.status))).toEqual(new Set([202, 503]));
    const unavailable = records.filter((r) => r.status === 503);
    expect(unavailable.filter((r) => r.retryAfter !== '2')).toEqual([]);
    const slowest = Math.max(...unavailable.map((r) => r.endedAt - r.startedAt));
    expect(slowest, 'slowest 503 (ms)').toBeLessThan(2_000);
    expect(readyz.status).toBe(503);
    expect(readyz.headers.get('retry-after')).toBe('2');
    expect(readyzMs).toBeLessThan(2_000);
    // While no Redis process existed at all: only 503s, at least one per client.
    const whileDown = records.filter((r) => r.startedAt >= down && r.endedAt <= starting);
    expect(whileDown.length).toBeGreaterThanOrEqual(12);
    expect(whileDown.filter((r) => r.status !== 503)).toEqual([]);
    // Accepted before the stop and, without restarting anything, again after the start.
    const accepted = records.filter((r) => r.status === 202);
    expect(accepted.filter((r) => r.endedAt < stopping).length).toBeGreaterThan(50);
    expect(accepted.filter((r) => r.startedAt > up).length).toBeGreaterThan(50);

    // Every 202'd generation completes exactly once: one completed row per job id.
    const jobIds = accepted.flatMap((r) => (r.kind === 'generation' && r.jobId ? [r.jobId] : []));
    expect(new Set(jobIds).size).toBe(jobIds.length);
    const rowsOf = async () =>
      database.db
        .selectFrom('generations')
        .select(['id', 'status'])
        .where('id', 'in', jobIds)
        .execute();
    await waitUntil(
      async () => (await rowsOf()).length >= jobIds.length,
      // The backlog drains in ~35 s; a job taken from the queue just as Redis stopped (the reply
      // lost) also waits out its 30 s lock before the stalled-job check hands it out again.
      120_000,
      `a generations row for each of the ${jobIds.length} 202'd jobs`,
    );
    const allDone = Date.now();
    await sleep(2_000); // a second run of a job would have written its row by now
    const rows = await rowsOf();
    expect(rows).toHaveLength(jobIds.length);
    expect(rows.filter((r) => r.status !== 'completed')).toEqual([]);

    // Nothing went wrong in any process but the lost connection itself.
    const lines = [...workers, api].flatMap((p) =>
      p
        .output()
        .split('\n')
        .filter((line) => /"level":"(warn|error|fatal)"/.test(line) && !CONNECTION_LOST.test(line))
        .map((line) => ({ process: p.name, line })),
    );
    const resentFinishes = new Set(lines.map(({ line }) => RESENT_FINISH.exec(line)?.[1]));
    resentFinishes.delete(undefined);
    expect(lines.filter(({ line }) => !RESENT_FINISH.test(line))).toEqual([]);

    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue('generate', { connection, prefix: PREFIX });
    try {
      const ids = [...jobIds, ...resentFinishes] as string[];
      const states = await Promise.all(
        ids.map(async (id) => ({ id, state: await queue.getJobState(id) })),
      );
      expect(states.filter((s) => s.state !== 'completed')).toEqual([]);
      expect(await queue.getJobCounts('wait', 'active', 'delayed', 'failed')).toEqual({
        wait: 0,
        active: 0,
        delayed: 0,
        failed: 0,
      });
    } finally {
      await queue.close();
      await connection.quit();
    }

    // Every 202'd ping lands once; a batch resent after a 503 never stores a ping twice.
    const pingIds = accepted.flatMap((r: LoadRecord) => r.pingIds ?? []);
    const pings = async () => {
      const { rows: [row] = [] } = await sql<{ n: string; unique: string; accepted: string }>`
        SELECT count(*) AS n, count(DISTINCT ping_id) AS unique,
          count(*) FILTER (WHERE ping_id = ANY(${pingIds}::uuid[])) AS accepted
        FROM telemetry`.execute(database.db);
      return { n: Number(row?.n), unique: Number(row?.unique), accepted: Number(row?.accepted) };
    };
    await waitUntil(
      async () => (await pings()).accepted >= pingIds.length,
      30_000,
      `each of the ${pingIds.length} 202'd pings in telemetry`,
    );
    const stored = await pings();
    expect(stored.accepted).toBe(pingIds.length);
    expect(stored.n).toBe(stored.unique);

    // No process exited; the workers reconnected on their own and found Redis as safe as before.
    for (const p of [...workers, api]) expect(p.child.exitCode, p.name).toBeNull();
    for (const w of workers) expect(w.output()).not.toContain('Redis is not safe');
    console.info(
      JSON.stringify({
        requests: records.length,
        accepted: accepted.length,
        unavailable: unavailable.length,
        whileDown: whileDown.length,
        slowest503Ms: slowest,
        resentThenAccepted: accepted.filter(
          (r) =>
            r.idempotencyKey &&
            records.some((o) => o.status === 503 && o.idempotencyKey === r.idempotencyKey),
        ).length,
        jobs: jobIds.length,
        resentFinishes: resentFinishes.size,
        allDoneAfterStartMs: allDone - up,
        pings: pingIds.length,
      }),
    );
  });
});
