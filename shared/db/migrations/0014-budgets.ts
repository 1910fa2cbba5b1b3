import { type Kysely, sql } from 'kysely';

/**
 * Per-user daily budgets:
 * - `api_keys.daily_budget_usd` / `daily_budget_usd_hard`: this key's override of
 *   `USER_DAILY_BUDGET_USD` / `USER_DAILY_BUDGET_USD_HARD` for each of its end users. NULL: the
 *   setting applies. Set with `lowburn keys budget`.
 * - `generations.fallback_reason` (and on `generations_late`) may be `budget`: the local model's
 *   answer failed and the frontier model was not asked because the user was past their soft
 *   daily budget (such a row is a failed generation).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE api_keys
    ADD COLUMN daily_budget_usd numeric(14, 6) CHECK (daily_budget_usd >= 0),
    ADD COLUMN daily_budget_usd_hard numeric(14, 6) CHECK (daily_budget_usd_hard >= 0)`.execute(db);
  await setReasons(db, ['error', 'timeout', 'invalid', 'budget']);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['generations', 'generations_late']) {
    await sql`UPDATE ${sql.table(table)} SET fallback_reason = NULL
      WHERE fallback_reason = 'budget'`.execute(db);
  }
  await setReasons(db, ['error', 'timeout', 'invalid']);
  await sql`ALTER TABLE api_keys DROP COLUMN daily_budget_usd,
    DROP COLUMN daily_budget_usd_hard`.execute(db);
}

/** Replaces the CHECK of `fallback_reason` (named by Postgres in 0011) on both tables. */
async function setReasons(db: Kysely<unknown>, reasons: string[]): Promise<void> {
  const list = sql.join(reasons.map((r) => sql.lit(r)));
  for (const table of ['generations', 'generations_late']) {
    const check = `${table}_fallback_reason_check`;
    await sql`ALTER TABLE ${sql.table(table)} DROP CONSTRAINT IF EXISTS ${sql.id(check)}`.execute(
      db,
    );
    await sql`ALTER TABLE ${sql.table(table)} ADD CONSTRAINT ${sql.id(check)}
      CHECK (fallback_reason IN (${list}))`.execute(db);
  }
}
