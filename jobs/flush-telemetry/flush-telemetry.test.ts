import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { appendPings } from '../../shared/telemetry/buffer.ts';
import type { Ping } from '../../shared/telemetry/ping.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
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
  // The test runs the flushes itself.
  const worker = useJobWorker(
    database,
    { 'flush-telemetry': flushTelemetryJob },
    { TELEMETRY_FLUSH_EVERY: '1h' },
  );

  const metrics = () => worker.metrics();
  const stored = async () =>
    Number(
      (await sql<{ n: string }>`SELECT count(*) AS n FROM telemetry`.execute(database.db)).rows[0]
        ?.n,
    );
  // Waits for the job itself, not only its rows: it records its metrics after the rows commit.
  const flush = async (rows: number) => {
    const job = await worker.queues.add(flushTelemetryJob, {});
    const queue = worker.queues.get(flushTelemetryJob);
    await waitUntil(async () => (await stored()) === rows, 10_000, `${rows} rows stored`);
    await waitUntil(
      async () => Boolean((await queue.getJob(job.id ?? ''))?.finishedOn),
      10_000,
      'the flush job finished',
    );
  };

  it('reports the buffer before a flush, and rows, duration, duplicates and rewrites after', async () => {
    await sql`TRUNCATE telemetry`.execute(database.db);
    const resent = ping();
    const buffer = { prefix: worker.prefix, cap: 1e9 };
    await appendPings(worker.redis, buffer, [resent]);
    await flush(1);
    // One request holding the resent ping between two new ones: its COPY fails and is rewritten.
    await appendPings(worker.redis, buffer, [ping(), resent, ping()]);
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
