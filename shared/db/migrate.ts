import { sql, type Transaction } from 'kysely';
import { type MigrationResultSet, Migrator, NO_MIGRATIONS } from 'kysely/migration';
import { type Db, MIGRATION_LOCK } from './create-db.ts';
import type { Database } from './database.ts';
import { type MigrationContext, migrations } from './migrations/index.ts';

export type { MigrationContext };

export interface MigrationStatus {
  name: string;
  executedAt: Date | undefined;
}

function migrator(db: Db | Transaction<Database>, context: MigrationContext = {}): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations(context) },
    migrationTableName: 'lowburn_migration',
    migrationLockTableName: 'lowburn_migration_lock',
  });
}

/** A migration run that failed: thrown so that its transaction rolls back, then unwrapped. */
class FailedRun extends Error {
  readonly result: MigrationResultSet;
  constructor(result: MigrationResultSet) {
    super('migration failed');
    this.result = result;
  }
}

/**
 * Runs the migrator in one transaction that first takes the migration lock
 * (`pg_advisory_xact_lock`): migrations run one process at a time — Kysely's own tables created
 * under the lock too, so two first runs do not race — and the lock holds behind a
 * transaction-mode pooler (see `TransactionLockAdapter`). A failed run rolls back whole.
 */
async function locked(
  db: Db,
  context: MigrationContext,
  run: (m: Migrator) => Promise<MigrationResultSet>,
): Promise<MigrationResultSet> {
  try {
    return await db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK)})`.execute(trx);
      const result = await run(migrator(trx, context));
      if (result.error) throw new FailedRun(result);
      return result;
    });
  } catch (error) {
    if (error instanceof FailedRun) return error.result;
    throw error;
  }
}

function unwrap(result: MigrationResultSet): string[] {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const cause = result.error instanceof Error ? result.error.message : String(result.error);
    throw new Error(`migration ${failed ? `"${failed.migrationName}" ` : ''}failed: ${cause}`, {
      cause: result.error,
    });
  }
  return (result.results ?? []).map((r) => r.migrationName);
}

/**
 * Applies every pending migration (or those up to `to`); returns the names applied. The
 * migration lock makes it safe to run concurrently, through a pooler too. `keyring` seals
 * existing secrets (0006).
 */
export async function migrateUp(
  db: Db,
  options: MigrationContext & { to?: string } = {},
): Promise<string[]> {
  return unwrap(
    await locked(db, options, (m) => (options.to ? m.migrateTo(options.to) : m.migrateToLatest())),
  );
}

/** Reverts the last migration, or every migration with `{ all: true }`; returns the names reverted. */
export async function migrateDown(
  db: Db,
  options: MigrationContext & { all?: boolean } = {},
): Promise<string[]> {
  return unwrap(
    await locked(db, options, (m) => (options.all ? m.migrateTo(NO_MIGRATIONS) : m.migrateDown())),
  );
}

/** Every known migration and when it ran (`undefined`: pending). */
export async function migrationStatus(db: Db): Promise<MigrationStatus[]> {
  const all = await migrator(db).getMigrations();
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt }));
}
