import type { GeneratePayload } from '../../shared/generation/schema.ts';
import type { Logger } from '../../shared/log/logger.ts';
import type { JobDeps } from '../../shared/queue/job-definition.ts';
import { addSpend, budgetDay, budgetReached, readSpend } from '../../shared/usage/budgets.ts';

/**
 * May this job's request ask the frontier model now? Not when the API found its user past the
 * soft budget, nor when the user's spend reached a budget since (another of their requests
 * may have paid for the frontier between enqueue and now): the spend is read again right
 * before each frontier call. `undefined` when no budget applies to the request.
 */
export function frontierGate(
  payload: GeneratePayload,
  deps: Pick<JobDeps, 'redis' | 'config'>,
): (() => Promise<boolean>) | undefined {
  const { budget } = payload;
  if (!budget) return undefined;
  return async () => {
    if (budget.localOnly) return false;
    const { queuePrefix, budgets } = deps.config;
    const day = budgetDay(new Date(), budgets.timeZone);
    const spent = await readSpend(deps.redis, queuePrefix, day, payload.apiKeyId, payload.userId);
    return budgetReached(spent, budget) === undefined;
  };
}

/**
 * Adds a recorded generation's frontier cost to its user's spend of the budget day, and logs
 * one warning the first time that day the spend reaches one of the user's budgets (the
 * crossing is kept in Redis for alerts: `readBudgetCrossings`). Spend is counted whether or
 * not a budget applies, so a budget switched on mid-day starts from the day's real spend.
 */
export async function recordSpend(
  ctx: { deps: Pick<JobDeps, 'redis' | 'config'>; log: Logger },
  payload: GeneratePayload,
  costUsd: number,
): Promise<void> {
  if (costUsd <= 0) return;
  const { redis, config } = ctx.deps;
  const { day, spentUsd, crossed } = await addSpend(
    redis,
    config.queuePrefix,
    config.budgets.timeZone,
    {
      apiKeyId: payload.apiKeyId,
      userId: payload.userId,
      usd: costUsd,
      at: new Date(),
      budgets: payload.budget,
    },
  );
  for (const level of crossed) {
    const budgetUsd = level === 'soft' ? payload.budget?.softUsd : payload.budget?.hardUsd;
    ctx.log.warn(
      // `budget`, not `level`: pino's own field.
      {
        apiKeyId: payload.apiKeyId,
        userId: payload.userId,
        budget: level,
        spentUsd,
        budgetUsd,
        day,
      },
      level === 'soft'
        ? 'user reached their soft daily budget: local model only until the budget day resets'
        : 'user reached their hard daily budget: the API refuses their requests until the budget day resets',
    );
  }
}
