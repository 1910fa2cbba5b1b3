import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  alertLines,
  dayFrom,
  recordingLog,
  seedCostDay,
  seedLayers,
} from '../../test/fixtures/alerts.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { ensurePartitions } from '../db/partitions.ts';
import { Queues } from '../queue/queues.ts';
import { appendPings } from '../telemetry/buffer.ts';
import { flushTelemetry } from '../telemetry/flush.ts';
import type { AlertCondition } from './alert-condition.ts';
import { checkAlerts } from './check-alerts.ts';
import { alertConditions } from './conditions/index.ts';

const condition = (id: string): AlertCondition => {
  const found = alertConditions.find((c) => c.id === id);
  if (!found) throw new Error(`no alert condition ${id}`);
  return found;
};

describe('checkAlerts, each condition over real Postgres and Redis', () => {
  const pg = useTestDatabase();
  const r = useRedis();
  let recorded = recordingLog();
  const env = { CPAU_TARGET_USD: '0.05', ALERT_JOB_GRACE: '3s', TELEMETRY_BUFFER_CAP: '4' };

  /** Runs one check of `conditions` at `now` (log lines only: no ALERT_WEBHOOK_URL). */
  async function check(
    conditions: readonly AlertCondition[],
    options: { now?: Date; queueNames?: string[] } = {},
  ) {
    const config = testConfig({ QUEUE_PREFIX: r.prefix, ...env });
    const queues = new Queues({ connection: r.redis, prefix: r.prefix });
    try {
      const deps = {
        db: pg.db,
        redis: r.redis,
        config,
        secrets: devKeyring(),
        log: recorded.log,
        enqueue: queues.add.bind(queues),
      } as const;
      const context = {
        db: pg.db,
        redis: r.redis,
        config,
        queueNames: options.queueNames ?? [],
        now: options.now ?? new Date(),
      };
      return await checkAlerts(deps, context, conditions);
    } finally {
      await queues.close();
    }
  }

  /** Two checks in a row, then two at once: the alert fires once. */
  async function fireOnce(c: AlertCondition, options: Parameters<typeof check>[1] = {}) {
    const first = await check([c], options);
    expect(first.failed).toEqual([]);
    expect(first.firing).toEqual([c.id]);
    await check([c], options);
    await Promise.all([check([c], options), check([c], options)]);
    expect(alertLines(recorded.lines)).toEqual([['warn', c.id]]);
  }

  /** The condition stopped: resolved once, however many checks see it. */
  async function resolveOnce(c: AlertCondition, options: Parameters<typeof check>[1] = {}) {
    const first = await check([c], options);
    expect(first.firing).toEqual([]);
    await Promise.all([check([c], options), check([c], options)]);
    expect(alertLines(recorded.lines)).toEqual([
      ['warn', c.id],
      ['info', c.id],
    ]);
    const rows = await pg.db
      .selectFrom('alerts')
      .selectAll()
      .where('condition', '=', c.id)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ resolved_at: expect.any(Date) });
  }

  beforeEach(async () => {
    recorded = recordingLog();
    await sql`TRUNCATE alerts, cost_daily, usage_daily, webhook_deliveries CASCADE`.execute(pg.db);
  });

  it('registers each condition once, by a kebab-case id', () => {
    const ids = alertConditions.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z]+(-[a-z]+)*$/);
    expect(ids).toHaveLength(7);
  });

  it('fires nothing on a quiet fleet', async () => {
    const now = new Date();
    await seedCostDay(pg.db, dayFrom(now, -1), { cpau: 0.02, activeUsers: 10 });
    const result = await check(alertConditions, { queueNames: ['quiet'] });
    expect(result).toEqual({ firing: [], failed: [], sent: [] });
    expect(await pg.db.selectFrom('alerts').selectAll().execute()).toEqual([]);
  });

  it('cpau-above-target: fires on yesterday above the band, resolves below it', async () => {
    const c = condition('cpau-above-target');
    const yesterday = dayFrom(new Date(), -1);
    await seedCostDay(pg.db, yesterday, { cpau: 0.08, activeUsers: 10 });
    await fireOnce(c);
    const [row] = await pg.db.selectFrom('alerts').selectAll().execute();
    expect(row?.details).toMatchObject({ day: yesterday, cpauUsd: 0.08, targetUsd: 0.05 });
    await seedCostDay(pg.db, yesterday, { cpau: 0.04, activeUsers: 10 });
    await resolveOnce(c);
  });

  it('fallback-share-high: fires over twice the 7-day median, resolves under it', async () => {
    const c = condition('fallback-share-high');
    const now = new Date();
    for (let d = -8; d <= -2; d++) {
      await seedLayers(pg.db, dayFrom(now, d), { local: 90, 'fallback:timeout': 10 });
    }
    await seedLayers(pg.db, dayFrom(now, -1), { local: 65, 'fallback:timeout': 25, exact: 10 });
    await fireOnce(c);
    const [row] = await pg.db.selectFrom('alerts').selectAll().execute();
    expect(row?.details).toMatchObject({ fallbackShare: 0.25, median7d: 0.1, baselineDays: 7 });
    // 0.2 is not "over" twice 0.1: the boundary itself does not fire.
    await seedLayers(pg.db, dayFrom(now, -1), { local: 80, 'fallback:error': 20 });
    await resolveOnce(c);
  });

  it('cache-hit-rate-drop: fires on a 10-point fall day over day, resolves on a smaller one', async () => {
    const c = condition('cache-hit-rate-drop');
    const now = new Date();
    await seedLayers(pg.db, dayFrom(now, -2), { exact: 40, semantic: 20, local: 40 });
    await seedLayers(pg.db, dayFrom(now, -1), { exact: 30, semantic: 20, local: 50 });
    await fireOnce(c);
    const [row] = await pg.db.selectFrom('alerts').selectAll().execute();
    expect(row?.details).toMatchObject({
      dropped: [{ layer: 'exact', before: 0.4, after: 0.3 }],
    });
    await seedLayers(pg.db, dayFrom(now, -1), { exact: 35, semantic: 20, local: 45 });
    await resolveOnce(c);
  });

  it('dead-letter: fires on a dead delivery or a failed job, resolves once both are dealt with', async () => {
    const c = condition('dead-letter');
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
    await fireOnce(c, { queueNames: ['doomed'] });
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
      const still = await check([c], { queueNames: ['doomed'] });
      expect(still.firing).toEqual(['dead-letter']);
      await job.remove();
      await resolveOnce(c, { queueNames: ['doomed'] });
    } finally {
      await worker.close();
      await connection.quit();
      await queue.close();
    }
  });

  it('nightly-job: fires when a slot passes with no run, resolves when it runs; sees a failed run', async () => {
    const c = condition('nightly-job');
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
      await fireOnce(c);
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
        await resolveOnce(c);
        fail = true;
        await waitUntil(
          async () => (await c.evaluate(contextNow())).firing,
          10_000,
          'the newest run failed',
        );
        const { details } = await c.evaluate(contextNow());
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

  const contextNow = () => ({
    db: pg.db,
    redis: r.redis,
    config: testConfig({ QUEUE_PREFIX: r.prefix, ...env }),
    queueNames: [],
    now: new Date(),
  });

  it('queue-lag: fires when the oldest waiting job is over 60 s old, resolves when it ran', async () => {
    const c = condition('queue-lag');
    const queue = new Queue('backlog', { connection: r.redis, prefix: r.prefix });
    try {
      const job = await queue.add('backlog', {});
      // Checked as if 61 s had passed since it was queued.
      const later = { queueNames: ['backlog'], now: new Date(job.timestamp + 61_000) };
      const soon = await check([c], {
        queueNames: ['backlog'],
        now: new Date(job.timestamp + 59_000),
      });
      expect(soon.firing).toEqual([]);
      await fireOnce(c, later);
      const [row] = await pg.db.selectFrom('alerts').selectAll().execute();
      expect(row?.details).toMatchObject({ lagging: [{ queue: 'backlog', lagSeconds: 61 }] });
      await job.remove();
      await resolveOnce(c, later);
    } finally {
      await queue.close();
    }
  });

  it('telemetry-buffer-high: fires over half the cap, resolves once the flush drained it', async () => {
    const c = condition('telemetry-buffer-high');
    const ping = () => ({
      pingId: randomUUID(),
      deviceId: 'device-1',
      ts: new Date().toISOString(),
      metric: 'temp.c',
      value: 21.5,
    });
    expect(await appendPings(r.redis, { prefix: r.prefix, cap: 4 }, [ping(), ping()])).toBe(true);
    expect((await check([c])).firing).toEqual([]);
    expect(await appendPings(r.redis, { prefix: r.prefix, cap: 4 }, [ping()])).toBe(true);
    await fireOnce(c);
    await ensurePartitions(pg.db, { from: new Date(), days: 2 });
    await flushTelemetry({
      redis: r.redis,
      db: pg.db,
      prefix: r.prefix,
      log: recordingLog().log,
      batchSize: 100,
      budgetMs: 10_000,
    });
    await resolveOnce(c);
  });

  it('fires a condition still firing the next day no second time, and at most once a day', async () => {
    const c = condition('cpau-above-target');
    const now = new Date();
    const tomorrow = new Date(now.getTime() + 86_400_000);
    await seedCostDay(pg.db, dayFrom(now, -1), { cpau: 0.08, activeUsers: 10 });
    await seedCostDay(pg.db, dayFrom(now, 0), { cpau: 0.08, activeUsers: 10 });
    await fireOnce(c);
    // Still firing tomorrow: the same open alert, no second event.
    expect((await check([c], { now: tomorrow })).firing).toEqual([c.id]);
    expect(alertLines(recorded.lines)).toEqual([['warn', c.id]]);
    // Resolved today, firing again today: today already had its alert.
    await seedCostDay(pg.db, dayFrom(now, -1), { cpau: 0.01, activeUsers: 10 });
    await check([c]);
    await seedCostDay(pg.db, dayFrom(now, -1), { cpau: 0.08, activeUsers: 10 });
    await check([c]);
    expect(alertLines(recorded.lines)).toEqual([
      ['warn', c.id],
      ['info', c.id],
    ]);
  });
});
