import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../shared/log/logger.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { appendPings } from '../../shared/telemetry/buffer.ts';
import type { Ping } from '../../shared/telemetry/ping.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { deletePrefix, randomPrefix } from '../../test/fixtures/redis.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { type RunningWorker, startWorker } from '../../workers/worker.ts';
import { flushTelemetryJob } from './index.ts';

const ping = (): Ping => ({
  pingId: randomUUID(),
  deviceId: 'device-1',
  ts: new Date().toISOString(),
  metric: 'temp.c',
  value: 21.5,
});

/** The value of an unlabelled metric in a Prometheus text page. */
const metric = (page: string, name: string) => {
  const line = page.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

describe('flush-telemetry, through a real worker', () => {
  const database = useTestDatabase();
  const prefix = randomPrefix();
  let worker: RunningWorker;
  let redis: Redis;
  let queues: Queues;
  beforeAll(async () => {
    const config = testConfig({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: prefix,
      WORKER_QUEUES: 'flush-telemetry',
      // The test runs the flushes itself.
      TELEMETRY_FLUSH_EVERY: '1h',
    });
    worker = await startWorker({
      config,
      catalog: { 'flush-telemetry': flushTelemetryJob },
      log: createLogger({ level: 'silent' }),
    });
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    queues = new Queues({ connection: redis, prefix });
  });
  afterAll(async () => {
    await worker?.stop();
    await queues?.close();
    await deletePrefix(redis, prefix);
    await redis?.quit();
  });

  const metrics = async () => (await fetch(`http://127.0.0.1:${worker.healthPort}/metrics`)).text();
  const stored = async () =>
    Number(
      (await sql<{ n: string }>`SELECT count(*) AS n FROM telemetry`.execute(database.db)).rows[0]
        ?.n,
    );
  const flush = async (rows: number) => {
    await queues.add(flushTelemetryJob, {});
    await waitUntil(async () => (await stored()) === rows, 10_000, `${rows} rows stored`);
  };

  it('reports the buffer before a flush, and rows, duration, duplicates and rewrites after', async () => {
    await sql`TRUNCATE telemetry`.execute(database.db);
    const resent = ping();
    await appendPings(redis, { prefix, cap: 1e9 }, [resent]);
    await flush(1);
    // One request holding the resent ping between two new ones: its COPY fails and is rewritten.
    await appendPings(redis, { prefix, cap: 1e9 }, [ping(), resent, ping()]);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const before = await metrics();
    expect(metric(before, 'lowburn_telemetry_buffer_depth')).toBe(3);
    expect(metric(before, 'lowburn_telemetry_oldest_unflushed_seconds')).toBeGreaterThanOrEqual(1);

    await flush(3);
    // The gauges read Redis at most once a second.
    await expect
      .poll(async () => metric(await metrics(), 'lowburn_telemetry_buffer_depth'), {
        timeout: 5_000,
      })
      .toBe(0);
    const after = await metrics();
    expect(metric(after, 'lowburn_telemetry_oldest_unflushed_seconds')).toBe(0);
    expect(metric(after, 'lowburn_telemetry_flush_rows_sum')).toBe(3);
    expect(metric(after, 'lowburn_telemetry_flush_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(metric(after, 'lowburn_telemetry_duplicates_total')).toBe(1);
    expect(metric(after, 'lowburn_telemetry_flush_rewrites_total')).toBe(1);
  });
});
