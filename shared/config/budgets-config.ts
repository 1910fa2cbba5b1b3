import type { ConfigIssue } from '../errors/config-error.ts';

/**
 * Per-user daily budgets of frontier (paid) token spend: past `dailyUsd` a user's requests are
 * answered by the local model only; past `dailyHardUsd` the API refuses them with 429. Either is
 * off when unset; an API key may override both (`lowburn keys budget`).
 */
export interface BudgetsConfig {
  /** `USER_DAILY_BUDGET_USD`, the soft budget; unset: off. */
  dailyUsd: number | undefined;
  /** `USER_DAILY_BUDGET_USD_HARD`; unset: off. */
  dailyHardUsd: number | undefined;
  /** Where a budget day starts and ends (`SCHEDULE_TZ`): it resets at midnight there. */
  timeZone: string;
}

/** The budgets section of the config; a hard budget below the soft one is a mistake. */
export function budgetsConfig(
  raw: {
    USER_DAILY_BUDGET_USD: number | undefined;
    USER_DAILY_BUDGET_USD_HARD: number | undefined;
    SCHEDULE_TZ: string;
  },
  issues: ConfigIssue[],
): BudgetsConfig {
  const soft = raw.USER_DAILY_BUDGET_USD;
  const hard = raw.USER_DAILY_BUDGET_USD_HARD;
  if (soft !== undefined && hard !== undefined && hard < soft) {
    issues.push({
      variable: 'USER_DAILY_BUDGET_USD_HARD',
      problem: `(${hard}) is below USER_DAILY_BUDGET_USD (${soft}): the soft budget would never apply; make the hard budget the larger one`,
      example: String(soft * 2),
    });
  }
  return { dailyUsd: soft, dailyHardUsd: hard, timeZone: raw.SCHEDULE_TZ };
}
