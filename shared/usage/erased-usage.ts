import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';

/**
 * The `usage_daily.user_id` of the anonymous per-day aggregate an erasure folds a user's rows
 * into (one row per day and API key): the day's totals and CPAU keep their value, no row names
 * the person. The `~` keeps it apart from ids the API accepts for a real user's rows in practice.
 */
export const ERASED_USER = '~erased';

// Advisory lock class of a usage day (the day number is the object): the rollup's write and an
// erasure's fold take turns, so neither writes over what the other has just written.
const USAGE_DAY_LOCK = 0x6c62_0019;
const dayNumber = (day: string) => Math.round(Date.parse(`${day}T00:00:00Z`) / 86_400_000);

/** Inside a transaction: waits for, then holds until commit, the usage rows of `days`. */
export async function lockUsageDays(trx: Db, days: readonly string[]): Promise<void> {
  const numbers = [...new Set(days.map(dayNumber))].sort((a, b) => a - b);
  if (numbers.length === 0) return;
  await sql`SELECT pg_advisory_xact_lock(${USAGE_DAY_LOCK}, d)
    FROM unnest(${numbers}::int[]) AS d ORDER BY d`.execute(trx);
}

/**
 * What the rollup must leave to the erased aggregate on `day`: the users whose rows an erasure
 * has folded (their facts may still be in hot or cold rows until the cold side runs; counting
 * them again would count them twice), and how many users were folded that day in all (each
 * still an active user of the day).
 */
export async function foldedUsersOfDay(
  db: Db,
  day: string,
): Promise<{ userIds: Set<string>; count: number }> {
  const rows = await db
    .selectFrom('erasures')
    .select('user_id')
    .where(sql<boolean>`counts -> 'hot' -> 'usageDays' ? ${day}`)
    .execute();
  return {
    userIds: new Set(rows.flatMap((r) => (r.user_id === null ? [] : [r.user_id]))),
    count: rows.length,
  };
}
