import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fleetWork, spawnFleetWorker } from '../fixtures/fleet-work.ts';
import { type ModelTestServer, startOllamaServer } from '../fixtures/model-servers.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import type { SpawnedProcess } from '../fixtures/processes.ts';
import { deletePrefix, randomPrefix } from '../fixtures/redis.ts';
import { startTcpProxy } from '../fixtures/tcp-proxy.ts';
import { waitUntil } from '../fixtures/wait-until.ts';

// RELIABILITY.md: "stop Postgres for a minute (no process exits; all work lands, no
// duplicates)". The worker reaches Postgres through a TCP proxy that is cut for 60 s while
// generations and pings keep arriving; a generation's own retries (3 attempts, 2 s backoff) last
// ~6 s, so without the runtime's outage waits its work would fail.
const OUTAGE_MS = 60_000;

describe('stop Postgres for a minute', () => {
  const database = useTestDatabase();
  const prefix = randomPrefix();
  let redis: Redis;
  let ollama: ModelTestServer;
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let worker: SpawnedProcess | undefined;

  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    ollama = await startOllamaServer({ latencyMs: 50 });
    const direct = new URL(database.url);
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  });
  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.kill('SIGTERM');
      await worker.exited;
    }
    await proxy?.close();
    await ollama?.close();
    await deletePrefix(redis, prefix);
    await redis?.quit();
  });

  it('keeps the worker up and lands every generation and ping exactly once after', async () => {
    const viaProxy = new URL(database.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    worker = await spawnFleetWorker({
      databaseUrl: viaProxy.toString(),
      prefix,
      ollamaUrl: ollama.url,
    });
    const work = await fleetWork({ db: database.db, redis, prefix });
    const rows = work.generations;
    const { jobIds, stored } = work;
    try {
      await work.generate(5);
      await work.send(200);
      await waitUntil(async () => (await rows()).length === 5, 20_000, 'warm-up generations');

      await proxy.cut();
      const cutAt = Date.now();
      await work.generate(20);
      await work.send(500);
      await sleep(OUTAGE_MS - (Date.now() - cutAt));
      // A minute later: the worker is up, and none of the work landed or was given up.
      expect(worker.child.exitCode, worker.output()).toBeNull();
      expect(await rows()).toHaveLength(5);
      const generations = work.generateQueue();
      expect(await generations.getFailedCount()).toBe(0);

      await proxy.restore();
      await waitUntil(
        async () => (await rows()).length === jobIds.length && (await stored()).rows === 700,
        90_000,
        `${jobIds.length} generations rows and 700 pings after Postgres came back`,
      );
      await sleep(2_000); // a second run of a job would have written its row by now
      const final = await rows();
      expect(final).toHaveLength(jobIds.length);
      expect(final.filter((r) => r.status !== 'completed')).toEqual([]);
      expect(await stored()).toEqual({ rows: 700, unique: 700 });
      expect(await generations.getJobCounts('wait', 'active', 'delayed', 'failed')).toEqual({
        wait: 0,
        active: 0,
        delayed: 0,
        failed: 0,
      });
      expect(worker.child.exitCode).toBeNull();
    } finally {
      await work.close();
    }
  }, 180_000);
});
