import { describe, expect, it } from 'vitest';
import { useRedis } from '../../test/fixtures/redis.ts';
import {
  addSpend,
  BUDGET_SPEND_TTL_S,
  budgetDay,
  budgetKeys,
  budgetReached,
  budgetResetsAt,
  readBudgetCrossings,
  readSpend,
  userBudgets,
} from './budgets.ts';

const KEY = '0b6f3c1e-8d7a-4f7e-9a51-2f1d6c0e9b11';

describe('the budget day', () => {
  it('is the calendar day in the time zone, turning at its midnight', () => {
    // Berlin is UTC+1 in December: its 8 December starts at 23:00 UTC on the 7th.
    expect(budgetDay(new Date('2026-12-07T22:59:59.999Z'), 'Europe/Berlin')).toBe('2026-12-07');
    expect(budgetDay(new Date('2026-12-07T23:00:00Z'), 'Europe/Berlin')).toBe('2026-12-08');
    expect(budgetDay(new Date('2026-12-07T23:00:00Z'), 'UTC')).toBe('2026-12-07');
    // The day is remembered per zone for speed: an earlier instant is not taken for it.
    expect(budgetDay(new Date('2026-12-07T22:59:59.999Z'), 'Europe/Berlin')).toBe('2026-12-07');
    expect(budgetDay(new Date('2026-12-08T22:59:59.999Z'), 'Europe/Berlin')).toBe('2026-12-08');
    expect(budgetDay(new Date('2026-12-08T23:00:00Z'), 'Europe/Berlin')).toBe('2026-12-09');
    expect(budgetResetsAt(new Date('2026-12-07T12:00:00Z'), 'Europe/Berlin')).toEqual(
      new Date('2026-12-07T23:00:00Z'),
    );
    // At midnight sharp a new day has begun: it resets at the next one.
    expect(budgetResetsAt(new Date('2026-12-07T23:00:00Z'), 'Europe/Berlin')).toEqual(
      new Date('2026-12-08T23:00:00Z'),
    );
    // The day the clocks go forward (29 March 2026 in Berlin) is 23 hours long.
    expect(budgetResetsAt(new Date('2026-03-28T23:00:00Z'), 'Europe/Berlin')).toEqual(
      new Date('2026-03-29T22:00:00Z'),
    );
  });
});

describe('which budgets apply', () => {
  const settings = { dailyUsd: 1, dailyHardUsd: 3 };
  it("takes a key's override over the setting, level by level, and none when both are off", () => {
    expect(userBudgets(settings, { dailyBudgetUsd: null, dailyBudgetUsdHard: 0.5 })).toEqual({
      softUsd: 1,
      hardUsd: 0.5,
      softFromKey: false,
      hardFromKey: true,
    });
    // 0 is a budget (never the frontier), not "unset".
    expect(userBudgets(settings, { dailyBudgetUsd: 0 })?.softUsd).toBe(0);
    expect(userBudgets({ dailyUsd: undefined, dailyHardUsd: undefined }, {})).toBeUndefined();
  });

  it('is reached at the budget itself, the hard one first', () => {
    expect(budgetReached(0.99, { softUsd: 1, hardUsd: 3 })).toBeUndefined();
    expect(budgetReached(1, { softUsd: 1, hardUsd: 3 })).toBe('soft');
    expect(budgetReached(3, { softUsd: 1, hardUsd: 3 })).toBe('hard');
    expect(budgetReached(5, { softUsd: undefined, hardUsd: undefined })).toBeUndefined();
  });
});

describe('spend in Redis', () => {
  const r = useRedis();
  const at = new Date('2026-12-07T23:30:00Z');
  const budgets = { softUsd: 1, hardUsd: 2 };

  it('adds in micro-dollars under the budget day, expiring after two days', async () => {
    const entry = { apiKeyId: KEY, userId: 'ada', at, usd: 0.000135 };
    expect(await addSpend(r.redis, r.prefix, 'Europe/Berlin', entry)).toEqual({
      day: '2026-12-08',
      spentUsd: 0.000135,
      crossed: [],
    });
    await addSpend(r.redis, r.prefix, 'Europe/Berlin', { ...entry, usd: 0.25 });
    const key = budgetKeys.spend(r.prefix, '2026-12-08', KEY, 'ada');
    expect(await r.redis.get(key)).toBe('250135');
    expect(await readSpend(r.redis, r.prefix, '2026-12-08', KEY, 'ada')).toBe(0.250135);
    const ttl = await r.redis.ttl(key);
    expect(ttl).toBeGreaterThan(BUDGET_SPEND_TTL_S - 60);
    expect(ttl).toBeLessThanOrEqual(BUDGET_SPEND_TTL_S);
    expect(await readSpend(r.redis, r.prefix, '2026-12-07', KEY, 'ada')).toBe(0);
  });

  it('records each first crossing once, even when two workers add at the same time', async () => {
    const user = 'tab\there';
    const add = (usd: number) =>
      addSpend(r.redis, r.prefix, 'UTC', { apiKeyId: KEY, userId: user, usd, at, budgets });
    const [first, second] = await Promise.all([add(0.6), add(0.6)]);
    // One of the two reached $1.20: it alone reports the soft crossing.
    expect([...first.crossed, ...second.crossed]).toEqual(['soft']);
    expect((await add(0.1)).crossed).toEqual([]);
    expect((await add(1)).crossed).toEqual(['hard']);
    expect((await add(1)).crossed).toEqual([]);
    expect(await readBudgetCrossings(r.redis, r.prefix, '2026-12-07')).toEqual([
      { apiKeyId: KEY, userId: user, level: 'hard', spentUsd: 2.3, budgetUsd: 2, at },
      { apiKeyId: KEY, userId: user, level: 'soft', spentUsd: 1.2, budgetUsd: 1, at },
    ]);
    expect(await readBudgetCrossings(r.redis, r.prefix, '2026-12-08')).toEqual([]);
  });
});
