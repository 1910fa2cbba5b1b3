import { CronExpressionParser } from 'cron-parser';
import type { RedisClient } from '../redis/connections.ts';

/**
 * Per-user daily budgets of frontier (paid) token spend, and how the spend sits in Redis.
 *
 * - Spend: one integer counter per API key, end user and budget day, in micro-dollars,
 *   `<prefix>:spend:<day>:<apiKeyId>\t<userId>`, expiring {@link BUDGET_SPEND_TTL_S} after its
 *   last increment. The worker adds a generation's cost when it records it ({@link addSpend});
 *   the API reads it on `POST /v1/generations` in the same script call as its rate limits.
 * - Crossings: the first time a user's spend reaches a budget on a budget day, one field in the
 *   day's hash `<prefix>:budget-crossings:<day>` ({@link readBudgetCrossings}), for alerts.
 *
 * A budget day is a calendar day in `SCHEDULE_TZ` ({@link budgetDay}): spend resets at midnight
 * there ({@link budgetResetsAt}). The prefix is the queue prefix, so a `{hash tag}` in it puts
 * these keys in the queues' Redis Cluster slot.
 */

/** A budget a user's spend can reach: `soft` (local model only) or `hard` (429). */
export type BudgetLevel = 'soft' | 'hard';

/** How long a spend counter outlives its last increment: past its day, plus a margin. */
export const BUDGET_SPEND_TTL_S = 2 * 86_400;
/** How long a day's crossings stay readable, so an alert system that was down catches up. */
export const BUDGET_CROSSINGS_TTL_S = 8 * 86_400;

const MICRO = 1_000_000;

/**
 * The API's per-user rate-limit windows (`api/rate-limits.ts`): named here too so an erasure
 * finds the ones naming its user.
 */
export const userRateLimitKeys = {
  minute: (prefix: string, apiKeyId: string, userId: string) =>
    `${prefix}:rl:user-min:${apiKeyId}:${userId}`,
  hour: (prefix: string, apiKeyId: string, userId: string) =>
    `${prefix}:rl:user-hour:${apiKeyId}:${userId}`,
};

export const budgetKeys = {
  spend: (prefix: string, day: string, apiKeyId: string, userId: string) =>
    `${prefix}:spend:${day}:${apiKeyId}\t${userId}`,
  crossings: (prefix: string, day: string) => `${prefix}:budget-crossings:${day}`,
};

/** USD to the counters' integer micro-dollars (rounded to the nearest). */
export const toMicroUsd = (usd: number) => Math.round(usd * MICRO);
export const fromMicroUsd = (micro: number) => micro / MICRO;

/** A user's two budgets in USD; an unset one does not apply. */
export interface BudgetLimits {
  softUsd?: number | undefined;
  hardUsd?: number | undefined;
}

/** The budgets that apply to one API key's end users, and whether the key set them. */
export interface UserBudgets {
  softUsd: number | undefined;
  hardUsd: number | undefined;
  /** The key's own budget (`lowburn keys budget`) replaced the setting's. */
  softFromKey: boolean;
  hardFromKey: boolean;
}

/**
 * A key's override beats the setting (`USER_DAILY_BUDGET_USD`, `…_HARD`), level by level.
 * `undefined` when neither level applies (budgets off: nothing to read or check).
 */
export function userBudgets(
  defaults: { dailyUsd: number | undefined; dailyHardUsd: number | undefined },
  key: { dailyBudgetUsd?: number | null; dailyBudgetUsdHard?: number | null },
): UserBudgets | undefined {
  const soft = key.dailyBudgetUsd ?? defaults.dailyUsd;
  const hard = key.dailyBudgetUsdHard ?? defaults.dailyHardUsd;
  if (soft === undefined && hard === undefined) return undefined;
  return {
    softUsd: soft,
    hardUsd: hard,
    softFromKey: key.dailyBudgetUsd != null,
    hardFromKey: key.dailyBudgetUsdHard != null,
  };
}

/** The highest budget `spentUsd` has reached (a budget is reached when spend ≥ it), if any. */
export function budgetReached(spentUsd: number, budgets: BudgetLimits): BudgetLevel | undefined {
  if (budgets.hardUsd !== undefined && spentUsd >= budgets.hardUsd) return 'hard';
  if (budgets.softUsd !== undefined && spentUsd >= budgets.softUsd) return 'soft';
  return undefined;
}

const dayFormats = new Map<string, Intl.DateTimeFormat>();
/** Per zone, the last day computed and the span it holds for: the API asks on every request. */
const knownDays = new Map<string, { day: string; from: number; until: number }>();

/** The budget day (`YYYY-MM-DD`) `at` falls in, in the IANA time zone `timeZone`. */
export function budgetDay(at: Date, timeZone: string): string {
  const t = at.getTime();
  const known = knownDays.get(timeZone);
  if (known && t >= known.from && t < known.until) return known.day;
  let format = dayFormats.get(timeZone);
  if (!format) {
    // en-CA formats dates as YYYY-MM-DD.
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    dayFormats.set(timeZone, format);
  }
  const day = format.format(at);
  // Formatting costs ~5 µs a call: the day holds from this instant until the next midnight.
  knownDays.set(timeZone, { day, from: t, until: budgetResetsAt(at, timeZone).getTime() });
  return day;
}

/** When the budget day of `at` ends: the next midnight in `timeZone` (DST-aware). */
export function budgetResetsAt(at: Date, timeZone: string): Date {
  return CronExpressionParser.parse('0 0 * * *', { currentDate: at, tz: timeZone }).next().toDate();
}

/** A user's spend so far on a budget day, in USD (0 when nothing was recorded). */
export async function readSpend(
  redis: RedisClient,
  prefix: string,
  day: string,
  apiKeyId: string,
  userId: string,
): Promise<number> {
  const micro = await redis.get(budgetKeys.spend(prefix, day, apiKeyId, userId));
  return fromMicroUsd(Number(micro ?? 0));
}

// The spend is added, and each budget it reaches for the first time that day is recorded, in
// one call: two workers recording at once cannot both (or neither) see the crossing.
const ADD_SPEND = `
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local crossed = {total}
for i, level in ipairs({'soft', 'hard'}) do
  local limit = ARGV[3 + i]
  if limit ~= '' and total >= tonumber(limit) then
    local field = level .. '\\t' .. ARGV[3]
    if redis.call('HSETNX', KEYS[2], field, total .. '\\t' .. limit .. '\\t' .. ARGV[6]) == 1 then
      redis.call('EXPIRE', KEYS[2], ARGV[7])
      table.insert(crossed, level)
    end
  end
end
return crossed`;

type SpendingRedis = RedisClient & {
  lowburnAddSpend(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown[]>;
};

/** One recorded cost of an end user's generation. */
export interface SpendEntry {
  apiKeyId: string;
  userId: string;
  usd: number;
  /** When it was recorded: decides its budget day. */
  at: Date;
  /** Budgets whose first crossing that day is recorded; none: the spend is only added. */
  budgets?: BudgetLimits | undefined;
}

/**
 * Adds a generation's cost to its user's spend on the budget day of `entry.at` in `timeZone`,
 * and records each budget the new total reaches for the first time that day. Returns the day's
 * total and those first crossings (an alert is due for each).
 */
export async function addSpend(
  redis: RedisClient,
  prefix: string,
  timeZone: string,
  entry: SpendEntry,
): Promise<{ day: string; spentUsd: number; crossed: BudgetLevel[] }> {
  if (!('lowburnAddSpend' in redis)) redis.defineCommand('lowburnAddSpend', { lua: ADD_SPEND });
  const day = budgetDay(entry.at, timeZone);
  const limit = (usd: number | undefined) => (usd === undefined ? '' : toMicroUsd(usd));
  const [total, ...crossed] = await (redis as SpendingRedis).lowburnAddSpend(
    2,
    budgetKeys.spend(prefix, day, entry.apiKeyId, entry.userId),
    budgetKeys.crossings(prefix, day),
    toMicroUsd(entry.usd),
    BUDGET_SPEND_TTL_S,
    `${entry.apiKeyId}\t${entry.userId}`,
    limit(entry.budgets?.softUsd),
    limit(entry.budgets?.hardUsd),
    entry.at.toISOString(),
    BUDGET_CROSSINGS_TTL_S,
  );
  return { day, spentUsd: fromMicroUsd(Number(total)), crossed: crossed as BudgetLevel[] };
}

/** A user's spend reaching a budget for the first time on a budget day. */
export interface BudgetCrossing {
  apiKeyId: string;
  userId: string;
  level: BudgetLevel;
  /** The day's spend right after the generation that crossed. */
  spentUsd: number;
  /** The budget it reached (the key's override, when it has one). */
  budgetUsd: number;
  /** When that generation's cost was recorded. */
  at: Date;
}

/**
 * Every budget crossing of a budget day (`YYYY-MM-DD` in `SCHEDULE_TZ`, as {@link budgetDay}
 * gives it), oldest first: at most one per user and level. Kept {@link BUDGET_CROSSINGS_TTL_S}.
 *
 * @example
 * const today = budgetDay(new Date(), config.budgets.timeZone);
 * for (const c of await readBudgetCrossings(redis, config.queuePrefix, today))
 *   alert(`${c.userId} spent $${c.spentUsd} of a ${c.level} budget of $${c.budgetUsd}`);
 */
export async function readBudgetCrossings(
  redis: RedisClient,
  prefix: string,
  day: string,
): Promise<BudgetCrossing[]> {
  const hash = await redis.hgetall(budgetKeys.crossings(prefix, day));
  return Object.entries(hash)
    .map(([field, value]) => {
      // The user id is last: it is the one part that could hold a tab.
      const [level = '', apiKeyId = '', ...user] = field.split('\t');
      const userId = user.join('\t');
      const [spent = '0', limit = '0', at = ''] = value.split('\t');
      return {
        apiKeyId,
        userId,
        level: level as BudgetLevel,
        spentUsd: fromMicroUsd(Number(spent)),
        budgetUsd: fromMicroUsd(Number(limit)),
        at: new Date(at),
      };
    })
    .sort((a, b) => a.at.getTime() - b.at.getTime() || a.level.localeCompare(b.level));
}
