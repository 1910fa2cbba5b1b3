import { afterEach, describe, expect, it } from 'vitest';
import { listPartitions, utcDay } from '../../shared/db/partitions.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { watchQueue } from '../../test/fixtures/queue-watch.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { type RunningWorker, startWorker } from '../../workers/worker.ts';
import { maintainPartitions } from './index.ts';

const log = createLogger({ level: 'silent' });

describe('maintain-partitions', () => {
  const pg = useTestDatabase();
  const r = useRedis();
  const workers: RunningWorker[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    for (const close of closers.splice(0)) await close();
  });

  it('runs once when workers start, creating today and the days ahead', async () => {
    const config = testConfig({
      QUEUE_PREFIX: r.prefix,
      DATABASE_URL: pg.url,
      PARTITION_DAYS_AHEAD: '4',
    });
    const catalog = { 'maintain-partitions': maintainPartitions };
    const { queues, events, close } = await watchQueue(r.redis, r.prefix, 'maintain-partitions');
    closers.push(close);
    const completed = new Promise((resolve) => events.once('completed', resolve));
    // Three workers booting together enqueue a single start-up run.
    workers.push(
      ...(await Promise.all([1, 2, 3].map(() => startWorker({ config, catalog, log })))),
    );
    await completed;

    const counts = await queues
      .get(maintainPartitions)
      .getJobCounts('completed', 'waiting', 'active');
    expect(counts).toEqual({ completed: 1, waiting: 0, active: 0 });
    const days = (await listPartitions(pg.db, 'telemetry')).map((p) => p.day);
    expect(days).toEqual([0, 1, 2, 3].map((i) => utcDay(new Date(), i)));

    const again = await queues.add(maintainPartitions, {});
    expect(await again.waitUntilFinished(events, 10_000)).toEqual({ created: [] });
  });

  it('is scheduled daily as a job scheduler', async () => {
    const config = testConfig({ QUEUE_PREFIX: r.prefix, DATABASE_URL: pg.url });
    workers.push(
      await startWorker({ config, catalog: { 'maintain-partitions': maintainPartitions }, log }),
    );
    const queues = new Queues({ connection: r.redis, prefix: r.prefix });
    closers.push(() => queues.close());
    const schedulers = await queues.get(maintainPartitions).getJobSchedulers();
    expect(schedulers).toEqual([
      expect.objectContaining({ key: 'maintain-partitions', pattern: '5 0 * * *', tz: 'UTC' }),
    ]);
  });

  it('rejects a payload it does not understand, naming the field', async () => {
    const queues = new Queues({ connection: r.redis, prefix: r.prefix });
    closers.push(() => queues.close());
    await expect(queues.add(maintainPartitions, { days: 0 })).rejects.toThrow(
      /invalid payload for maintain-partitions: days: Too small/,
    );
  });
});
