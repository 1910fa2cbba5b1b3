import { budgetDay, readBudgetCrossings } from '../../usage/budgets.ts';
import type { AlertCondition } from '../alert-condition.ts';

/** Users a `budget-crossed` alert names (the count says how many there were in all). */
const NAMED = 20;

/**
 * A user's spend reached their soft or hard daily budget today (the budget day in
 * `SCHEDULE_TZ`, as the worker records each first crossing in Redis). Resolves when the budget
 * day turns and no one has crossed yet. Off while no budget is set.
 */
export const budgetCrossed: AlertCondition = {
  id: 'budget-crossed',
  description: 'A user reached their daily budget (USER_DAILY_BUDGET_USD or a key override)',
  async evaluate({ redis, config, now }) {
    const day = budgetDay(now, config.budgets.timeZone);
    const crossings = await readBudgetCrossings(redis, config.queuePrefix, day);
    return {
      firing: crossings.length > 0,
      details: {
        budgetDay: day,
        crossings: crossings.length,
        hard: crossings.filter((c) => c.level === 'hard').length,
        users: crossings.slice(0, NAMED).map((c) => ({
          apiKeyId: c.apiKeyId,
          userId: c.userId,
          level: c.level,
          spentUsd: c.spentUsd,
          budgetUsd: c.budgetUsd,
          at: c.at.toISOString(),
        })),
      },
    };
  },
};
