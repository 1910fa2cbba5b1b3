import { describe, expect, it } from 'vitest';
import { useAlertChecks } from '../../../test/fixtures/alert-checks.ts';
import { useTestDatabase } from '../../../test/fixtures/postgres.ts';
import { useRedis } from '../../../test/fixtures/redis.ts';
import { addSpend, budgetDay } from '../../usage/budgets.ts';

describe('checkAlerts: budget-crossed over the spend the worker records in Redis', () => {
  const pg = useTestDatabase();
  const r = useRedis();
  const checks = useAlertChecks(pg, r, {
    SCHEDULE_TZ: 'Europe/Berlin',
    USER_DAILY_BUDGET_USD: '0.01',
    USER_DAILY_BUDGET_USD_HARD: '0.02',
  });

  it('fires once on the first user past a budget, names them, and resolves when the budget day turns', async () => {
    const c = checks.condition('budget-crossed');
    // 23:30 in Berlin: the budget day is the 7th; half an hour later it is the 8th.
    const now = new Date('2026-12-07T22:30:00Z');
    const budgets = { softUsd: 0.01, hardUsd: 0.02 };
    const spend = (userId: string, usd: number) =>
      addSpend(r.redis, r.prefix, 'Europe/Berlin', {
        apiKeyId: 'key-1',
        userId,
        usd,
        at: now,
        budgets,
      });
    await spend('u-under', 0.005);
    expect((await checks.check([c], { now })).firing).toEqual([]);

    expect((await spend('u-over', 0.015)).crossed).toEqual(['soft']);
    await checks.fireOnce(c, { now });
    // A second user crossing the same day is in the details, not a second alert.
    expect((await spend('u-hard', 0.03)).crossed).toEqual(['soft', 'hard']);
    const again = await checks.check([c], { now });
    expect(again.firing).toEqual([c.id]);
    const verdict = await c.evaluate(checks.context({ now }));
    expect(verdict.details).toMatchObject({
      budgetDay: '2026-12-07',
      crossings: 3,
      hard: 1,
      users: expect.arrayContaining([
        expect.objectContaining({
          userId: 'u-over',
          level: 'soft',
          spentUsd: 0.015,
          budgetUsd: 0.01,
        }),
        expect.objectContaining({
          userId: 'u-hard',
          level: 'hard',
          spentUsd: 0.03,
          budgetUsd: 0.02,
        }),
        expect.objectContaining({
          userId: 'u-hard',
          level: 'soft',
          spentUsd: 0.03,
          budgetUsd: 0.01,
        }),
      ]),
    });

    const tomorrow = new Date('2026-12-07T23:05:00Z');
    expect(budgetDay(tomorrow, 'Europe/Berlin')).toBe('2026-12-08');
    await checks.resolveOnce(c, { now: tomorrow });
  });
});
