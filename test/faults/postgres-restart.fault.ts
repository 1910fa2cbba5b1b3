import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fleetWork, spawnFleetWorker } from '../fixtures/fleet-work.ts';
import { type ModelTestServer, startOllamaServer } from '../fixtures/model-servers.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import type { SpawnedProcess } from '../fixtures/processes.ts';
import { deletePrefix, randomPrefix } from '../fixtures/redis.ts';
import { waitUntil } from '../fixtures/wait-until.ts';

// What a Postgres restart (fast shutdown), a failover or an operator's pg_terminate_backend does
// to a worker: every connection it holds, idle or in the middle of a transaction, is closed
// under it. Here that happens every 100 ms for 15 s while generations and pings keep coming
// (the proxy of postgres-outage.fault.ts cuts connections once, mostly while they are idle).
// A connection lost while in use used to crash the worker (pg's unhandled 'error' event).
const STORM_MS = 15_000;
const APPLICATION = 'lowburn-fault-worker';

describe('Postgres closing the worker’s connections again and again', () => {
  const database = useTestDatabase();
  const prefix = randomPrefix();
  let redis: Redis;
  let ollama: ModelTestServer;
  let worker: SpawnedProcess | undefined;

  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    ollama = await startOllamaServer({ latencyMs: 20 });
  });
  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.kill('SIGTERM');
      await worker.exited;
    }
    await ollama?.close();
    await deletePrefix(redis, prefix);
    await redis?.quit();
  });

  it('keeps the worker up and lands every generation and ping exactly once', async () => {
    // The connection string's application_name marks the worker's backends for the killer.
    const url = new URL(database.url);
    url.searchParams.set('application_name', APPLICATION);
    worker = await spawnFleetWorker({
      databaseUrl: url.toString(),
      prefix,
      ollamaUrl: ollama.url,
    });
    const work = await fleetWork({ db: database.db, redis, prefix });
    const killer = new pg.Client({ connectionString: inject('databaseUrl') });
    await killer.connect();
    let killed = 0;
    try {
      await work.generate(5);
      await work.send(200);
      await waitUntil(
        async () => (await work.generations()).length === 5,
        20_000,
        'warm-up generations',
      );

      const stormEnds = Date.now() + STORM_MS;
      const storm = (async () => {
        while (Date.now() < stormEnds) {
          const { rowCount } = await killer.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
            [APPLICATION],
          );
          killed += rowCount ?? 0;
          await sleep(100);
        }
      })();
      while (Date.now() < stormEnds) {
        await work.generate(2);
        await work.send(100);
        await sleep(250);
      }
      await storm;
      expect(worker.child.exitCode, worker.output()).toBeNull();
      expect(killed).toBeGreaterThan(20);

      await waitUntil(
        async () =>
          (await work.generations()).length === work.jobIds.length &&
          (await work.stored()).rows === work.pings,
        60_000,
        `${work.jobIds.length} generations rows and ${work.pings} pings after the storm`,
      );
      await sleep(2_000); // a second run of a job would have written its row by now
      const final = await work.generations();
      expect(final).toHaveLength(work.jobIds.length);
      expect(final.filter((r) => r.status !== 'completed')).toEqual([]);
      expect(await work.stored()).toEqual({ rows: work.pings, unique: work.pings });
      expect(await work.generateQueue().getFailedCount()).toBe(0);
      expect(worker.child.exitCode, worker.output()).toBeNull();
    } finally {
      await killer.end();
      await work.close();
    }
  }, 120_000);
});
