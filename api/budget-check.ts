import {
  budgetDay,
  budgetKeys,
  budgetReached,
  budgetResetsAt,
  fromMicroUsd,
  type UserBudgets,
  userBudgets,
} from '../shared/usage/budgets.ts';
import { ApiError } from './api-error.ts';
import type { ApiDeps, ApiKeyIdentity } from './deps.ts';

/** What the generate job is told about its user's budgets (the payload's `budget`). */
export interface BudgetMark {
  softUsd?: number;
  hardUsd?: number;
  /** The user was past the soft budget when the request came in: never ask the frontier. */
  localOnly: boolean;
}

/** A request's budgets and where its user's spend sits, before the spend is read. */
export interface BudgetCheck {
  budgets: UserBudgets;
  userId: string;
  /** The spend counter, read in the rate-limit script call. */
  spendKey: string;
  at: Date;
}

/**
 * The budgets a request of `key`'s end user `userId` is checked against, or `undefined` when
 * none applies (budgets off, or a request naming no user: nothing to read).
 */
export function budgetCheck(
  deps: Pick<ApiDeps, 'config' | 'queues' | 'now'>,
  key: ApiKeyIdentity,
  userId: string | undefined,
): BudgetCheck | undefined {
  if (userId === undefined) return undefined;
  const budgets = userBudgets(deps.config.budgets, key);
  if (!budgets) return undefined;
  const at = new Date(deps.now?.() ?? Date.now());
  const day = budgetDay(at, deps.config.budgets.timeZone);
  return {
    budgets,
    userId,
    spendKey: budgetKeys.spend(deps.queues.prefix, day, key.id, userId),
    at,
  };
}

const usd = (n: number) => `$${n.toFixed(2)}`;

/**
 * Judges the spend read for `check`: past the hard budget throws 429 `budget_exceeded` saying
 * which budget, the spend, and when the budget day resets (`Retry-After` until then); otherwise
 * returns the job's mark, `localOnly` past the soft budget.
 */
export function judgeSpend(
  check: BudgetCheck,
  spentMicroUsd: number,
  timeZone: string,
): BudgetMark {
  const { budgets } = check;
  const spent = fromMicroUsd(spentMicroUsd);
  const level = budgetReached(spent, budgets);
  if (level === 'hard') throw overHardBudget(check, spent, timeZone);
  return {
    ...(budgets.softUsd !== undefined && { softUsd: budgets.softUsd }),
    ...(budgets.hardUsd !== undefined && { hardUsd: budgets.hardUsd }),
    localOnly: level === 'soft',
  };
}

function overHardBudget(check: BudgetCheck, spent: number, timeZone: string): ApiError {
  const { budgets, userId, at } = check;
  const hard = budgets.hardUsd ?? 0;
  const resets = budgetResetsAt(at, timeZone);
  const source = budgets.hardFromKey
    ? "this API key's override (lowburn keys budget)"
    : 'USER_DAILY_BUDGET_USD_HARD';
  const retryAfter = String(Math.max(1, Math.ceil((resets.getTime() - at.getTime()) / 1000)));
  return new ApiError(
    429,
    'budget_exceeded',
    `user "${userId}" has spent ${usd(spent)} today, past the hard user daily budget of ${usd(hard)} (${source}); it resets at ${resets.toISOString()} (midnight ${timeZone})`,
    { headers: { 'retry-after': retryAfter } },
  );
}
