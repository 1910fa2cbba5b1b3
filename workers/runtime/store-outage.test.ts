import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../../shared/log/logger.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { watchQueue } from '../../test/fixtures/queue-watch.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { startTcpProxy } from '../../test/fixtures/tcp-proxy.ts';
import { type RunningWorker, startWorker } from '../worker.ts';

/** Reads Postgres once; one attempt only, so a failure that spends it ends the job. */
const readsPostgres = defineJob({
  queue: 'reads-postgres',
  description: 'test: one Postgres query',
  schema: z.object({}).strict(),
  options: { attempts: 1, timeoutMs: 5_000 },
  async process(_payload, { deps }) {
    await deps.redis.incr(`${deps.config.queuePrefix}:test:runs`);
    const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(deps.db);
    return rows[0]?.one;
  },
});

/** Fails on its own terms: the outage rule must not turn this into endless retries. */
const brokenJob = defineJob({
  queue: 'broken-job',
  description: 'test: always fails',
  schema: z.object({}).strict(),
  options: { attempts: 1 },
  async process() {
    throw new Error('the work itself is wrong');
  },
});

describe('when Postgres is unreachable under a running job', () => {
  const pg = useTestDatabase();
  const r = useRedis();
  const open: { close(): Promise<unknown> }[] = [];
  let worker: RunningWorker | undefined;

  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    for (const thing of open.splice(0)) await thing.close();
  });

  it('waits for the store and runs again without spending an attempt, then completes', async () => {
    const direct = new URL(pg.url);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    open.push(proxy);
    const viaProxy = new URL(pg.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const config = testConfig({
      QUEUE_PREFIX: r.prefix,
      DATABASE_URL: viaProxy.toString(),
      WORKER_QUEUES: 'reads-postgres,broken-job',
    });
    worker = await startWorker({
      config,
      catalog: { 'reads-postgres': readsPostgres, 'broken-job': brokenJob },
      log: createLogger({ level: 'silent' }),
    });
    const { queues, events, close } = await watchQueue(r.redis, r.prefix, 'reads-postgres');
    open.push({ close });

    await proxy.cut();
    const job = await queues.add(readsPostgres, {});
    // Outage waits of ~1 s and ~2 s: at least two runs fail while Postgres is away…
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(Number(await r.redis.get(`${r.prefix}:test:runs`))).toBeGreaterThanOrEqual(2);
    expect(await job.getState()).toBe('delayed');
    // …and none of them spent the job's single attempt.
    await proxy.restore();
    expect(await job.waitUntilFinished(events, 15_000)).toBe(1);
    const done = await queues.get(readsPostgres).getJob(job.id ?? '');
    expect(done?.attemptsMade).toBe(1);

    // A job's own failure still fails it, once.
    const broken = await watchQueue(r.redis, r.prefix, 'broken-job');
    open.push(broken);
    const failing = await queues.add(brokenJob, {});
    await expect(failing.waitUntilFinished(broken.events, 10_000)).rejects.toThrow(
      'the work itself is wrong',
    );
    expect((await queues.get(brokenJob).getJob(failing.id ?? ''))?.attemptsMade).toBe(1);
  }, 30_000);
});
