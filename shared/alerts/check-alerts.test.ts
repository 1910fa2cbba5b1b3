import { describe, expect, it } from 'vitest';
import { useAlertChecks } from '../../test/fixtures/alert-checks.ts';
import { dayFrom, seedCostDay, seedLayers } from '../../test/fixtures/alerts.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import type { AlertCondition } from './alert-condition.ts';
import { alertConditions } from './conditions/index.ts';

describe('checkAlerts: the registry, the cost conditions, once a day', () => {
  const pg = useTestDatabase();
  const r = useRedis();
  const checks = useAlertChecks(pg, r, { CPAU_TARGET_USD: '0.05' });

  it('registers each condition once, by a kebab-case id', () => {
    const ids = alertConditions.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z]+(-[a-z]+)*$/);
    expect(ids).toHaveLength(8);
  });

  it('takes a new condition as one more object, and one that throws does not stop the others', async () => {
    const flaky: AlertCondition = {
      id: 'user-past-soft-budget',
      description: 'A user went past the soft daily budget',
      evaluate: async () => {
        throw new Error('budgets are not readable');
      },
    };
    await seedCostDay(pg.db, dayFrom(new Date(), -1), { cpau: 0.08, activeUsers: 10 });
    const result = await checks.check([flaky, checks.condition('cpau-above-target')]);
    expect(result).toMatchObject({
      firing: ['cpau-above-target'],
      failed: [{ condition: 'user-past-soft-budget', error: 'budgets are not readable' }],
    });
    // Neither opened nor resolved: a condition that cannot be read is left as it was.
    expect(await pg.db.selectFrom('alerts').select('condition').execute()).toEqual([
      { condition: 'cpau-above-target' },
    ]);
  });

  it('fires nothing on a quiet fleet', async () => {
    const now = new Date();
    await seedCostDay(pg.db, dayFrom(now, -1), { cpau: 0.02, activeUsers: 10 });
    const result = await checks.check(alertConditions, { queueNames: ['quiet'] });
    expect(result).toEqual({ firing: [], failed: [], sent: [] });
    expect(await pg.db.selectFrom('alerts').selectAll().execute()).toEqual([]);
  });

  it('cpau-above-target: fires on yesterday above the band, resolves below it', async () => {
    const c = checks.condition('cpau-above-target');
    const yesterday = dayFrom(new Date(), -1);
    await seedCostDay(pg.db, yesterday, { cpau: 0.08, activeUsers: 10 });
    await checks.fireOnce(c);
    const [row] = await pg.db.selectFrom('alerts').selectAll().execute();
    expect(row?.details).toMatchObject({ day: yesterday, cpauUsd: 0.08, targetUsd: 0.05 });
    await seedCostDay(pg.db, yesterday, { cpau: 0.04, activeUsers: 10 });
    await checks.resolveOnce(c);
  });

  it('fallback-share-high: fires over twice the 7-day median, resolves under it', async () => {
    const c = checks.condition('fallback-share-high');
    const now = new Date();
    for (let d = -8; d <= -2; d++) {
      await seedLayers(pg.db, dayFrom(now, d), { local: 90, 'fallback:timeout': 10 });
    }
    await seedLayers(pg.db, dayFrom(now, -1), { local: 65, 'fallback:timeout': 25, exact: 10 });
    await checks.fireOnce(c);
    const [row] = await pg.db.selectFrom('alerts').selectAll().execute();
    expect(row?.details).toMatchObject({ fallbackShare: 0.25, median7d: 0.1, baselineDays: 7 });
    // 0.2 is not "over" twice 0.1: the boundary itself does not fire.
    await seedLayers(pg.db, dayFrom(now, -1), { local: 80, 'fallback:error': 20 });
    await checks.resolveOnce(c);
  });

  it('cache-hit-rate-drop: fires on a 10-point fall day over day, resolves on a smaller one', async () => {
    const c = checks.condition('cache-hit-rate-drop');
    const now = new Date();
    await seedLayers(pg.db, dayFrom(now, -2), { exact: 40, semantic: 20, local: 40 });
    await seedLayers(pg.db, dayFrom(now, -1), { exact: 30, semantic: 20, local: 50 });
    await checks.fireOnce(c);
    const [row] = await pg.db.selectFrom('alerts').selectAll().execute();
    expect(row?.details).toMatchObject({
      dropped: [{ layer: 'exact', before: 0.4, after: 0.3 }],
    });
    await seedLayers(pg.db, dayFrom(now, -1), { exact: 35, semantic: 20, local: 45 });
    await checks.resolveOnce(c);
  });

  it('fires a condition still firing the next day no second time, and at most once a day', async () => {
    const c = checks.condition('cpau-above-target');
    const now = new Date();
    const tomorrow = new Date(now.getTime() + 86_400_000);
    await seedCostDay(pg.db, dayFrom(now, -1), { cpau: 0.08, activeUsers: 10 });
    await seedCostDay(pg.db, dayFrom(now, 0), { cpau: 0.08, activeUsers: 10 });
    await checks.fireOnce(c);
    // Still firing tomorrow: the same open alert, no second event.
    expect((await checks.check([c], { now: tomorrow })).firing).toEqual([c.id]);
    expect(checks.lines()).toEqual([['warn', c.id]]);
    // Resolved today, firing again today: today already had its alert.
    await seedCostDay(pg.db, dayFrom(now, -1), { cpau: 0.01, activeUsers: 10 });
    await checks.check([c]);
    await seedCostDay(pg.db, dayFrom(now, -1), { cpau: 0.08, activeUsers: 10 });
    await checks.check([c]);
    expect(checks.lines()).toEqual([
      ['warn', c.id],
      ['info', c.id],
    ]);
  });
});
