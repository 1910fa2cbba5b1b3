import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { useAlertChecks } from '../../../test/fixtures/alert-checks.ts';
import { recordingLog } from '../../../test/fixtures/alerts.ts';
import { useTestDatabase } from '../../../test/fixtures/postgres.ts';
import { useRedis } from '../../../test/fixtures/redis.ts';
import { waitUntil } from '../../../test/fixtures/wait-until.ts';
import { ensurePartitions } from '../../db/partitions.ts';
import { appendPings } from '../../telemetry/buffer.ts';
import { flushTelemetry } from '../../telemetry/flush.ts';

describe('checkAlerts: the fleet conditions over real Postgres, Redis and BullMQ queues', () => {
  const pg = useTestDatabase();
  const r = useRedis();
  const checks = useAlertChecks(pg, r, { ALERT_JOB_GRACE: '3s', TELEMETRY_BUFFER_CAP: '4' });

  it('dead-letter: fires on a dead delivery or a failed job, resolves once both are dealt with', async () => {
    const c = checks.condition('dead-letter');
    const id = `msg_${randomUUID().replaceAll('-', '')}`;
    await pg.db
      .insertInto('webhook_deliveries')
      .values({
        id,
        job_id: 'generate.1',
        event_type: 'generation.completed',
        url: 'https://example.com/hooks',
        payload: '{}',
        status: 'dead',
      })
      .execute();
    await checks.fireOnce(c, { queueNames: ['doomed'] });
    // A job failed for good keeps it firing after the delivery is replayed.
    const queue = new Queue('doomed', { connection: r.redis, prefix: r.prefix });
    const connection = r.redis.duplicate();
    const worker = new Worker(
      'doomed',
      async () => {
        throw new Error('boom');
      },
      { connection, prefix: r.prefix },
    );
    try {
      const job = await queue.add('doomed', {}, { attempts: 1 });
      await waitUntil(async () => (await job.getState()) === 'failed', 10_000, 'job failed');
      await pg.db.updateTable('webhook_deliveries').set({ status: 'pending' }).execute();
      const still = await checks.check([c], { queueNames: ['doomed'] });
      expect(still.firing).toEqual(['dead-letter']);
      await job.remove();
      await checks.resolveOnce(c, { queueNames: ['doomed'] });
    } finally {
      await worker.close();
      await connection.quit();
      await queue.close();
    }
  });

  it('nightly-job: fires when a slot passes with no run, resolves when it runs; sees a failed run', async () => {
    const c = checks.condition('nightly-job');
    const queue = new Queue('export-cold', { connection: r.redis, prefix: r.prefix });
    try {
      // Every 300 ms, and no worker: the first slot passes unserved.
      await queue.upsertJobScheduler('export-cold', { every: 300 }, { name: 'export-cold' });
      await waitUntil(
        async () => {
          const next = (await queue.getJobScheduler('export-cold'))?.next ?? Date.now();
          return Date.now() - next > 3_500;
        },
        10_000,
        'the slot passed by more than ALERT_JOB_GRACE',
      );
      await checks.fireOnce(c);
      const [row] = await pg.db.selectFrom('alerts').selectAll().execute();
      expect(row?.details).toMatchObject({ jobs: [{ job: 'export-cold', problem: 'missed' }] });

      let fail = false;
      const connection = r.redis.duplicate();
      const worker = new Worker(
        'export-cold',
        async () => {
          if (fail) throw new Error('the bucket is gone');
        },
        { connection, prefix: r.prefix },
      );
      try {
        await waitUntil(
          async () => ((await queue.getJobCounts('completed')).completed ?? 0) > 0,
          10_000,
          'a run completed',
        );
        await checks.resolveOnce(c);
        fail = true;
        await waitUntil(
          async () => (await c.evaluate(checks.context())).firing,
          10_000,
          'the newest run failed',
        );
        const { details } = await c.evaluate(checks.context());
        expect(details).toMatchObject({
          jobs: [{ job: 'export-cold', problem: 'failed', error: 'the bucket is gone' }],
        });
      } finally {
        await worker.close();
        await connection.quit();
      }
    } finally {
      await queue.removeJobScheduler('export-cold');
      await queue.close();
    }
  });

  it('queue-lag: fires when the oldest waiting job is over 60 s old, resolves when it ran', async () => {
    const c = checks.condition('queue-lag');
    const queue = new Queue('backlog', { connection: r.redis, prefix: r.prefix });
    try {
      const job = await queue.add('backlog', {});
      // Checked as if 61 s had passed since it was queued.
      const later = { queueNames: ['backlog'], now: new Date(job.timestamp + 61_000) };
      const soon = await checks.check([c], {
        queueNames: ['backlog'],
        now: new Date(job.timestamp + 59_000),
      });
      expect(soon.firing).toEqual([]);
      await checks.fireOnce(c, later);
      const [row] = await pg.db.selectFrom('alerts').selectAll().execute();
      expect(row?.details).toMatchObject({ lagging: [{ queue: 'backlog', lagSeconds: 61 }] });
      await job.remove();
      await checks.resolveOnce(c, later);
    } finally {
      await queue.close();
    }
  });

  it('telemetry-buffer-high: fires over half the cap, resolves once the flush drained it', async () => {
    const c = checks.condition('telemetry-buffer-high');
    const ping = () => ({
      pingId: randomUUID(),
      deviceId: 'device-1',
      ts: new Date().toISOString(),
      metric: 'temp.c',
      value: 21.5,
    });
    expect(await appendPings(r.redis, { prefix: r.prefix, cap: 4 }, [ping(), ping()])).toBe(true);
    expect((await checks.check([c])).firing).toEqual([]);
    expect(await appendPings(r.redis, { prefix: r.prefix, cap: 4 }, [ping()])).toBe(true);
    await checks.fireOnce(c);
    await ensurePartitions(pg.db, { from: new Date(), days: 2 });
    await flushTelemetry({
      redis: r.redis,
      db: pg.db,
      prefix: r.prefix,
      log: recordingLog().log,
      batchSize: 100,
      budgetMs: 10_000,
    });
    await checks.resolveOnce(c);
  });
});
