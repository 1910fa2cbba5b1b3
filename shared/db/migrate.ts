import { type MigrationResultSet, Migrator, NO_MIGRATIONS } from 'kysely/migration';
import type { Db } from './create-db.ts';
import { type MigrationContext, migrations } from './migrations/index.ts';

export type { MigrationContext };

export interface MigrationStatus {
  name: string;
  executedAt: Date | undefined;
}

function migrator(db: Db, context: MigrationContext = {}): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations(context) },
    migrationTableName: 'lowburn_migration',
    migrationLockTableName: 'lowburn_migration_lock',
  });
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
 * Applies every pending migration (or those up to `to`); returns the names applied. Kysely's
 * lock makes it safe to run concurrently. `keyring` seals existing secrets (0006).
 */
export async function migrateUp(
  db: Db,
  options: MigrationContext & { to?: string } = {},
): Promise<string[]> {
  const m = migrator(db, options);
  return unwrap(options.to ? await m.migrateTo(options.to) : await m.migrateToLatest());
}

/** Reverts the last migration, or every migration with `{ all: true }`; returns the names reverted. */
export async function migrateDown(
  db: Db,
  options: MigrationContext & { all?: boolean } = {},
): Promise<string[]> {
  const m = migrator(db, options);
  return unwrap(options.all ? await m.migrateTo(NO_MIGRATIONS) : await m.migrateDown());
}

/** Every known migration and when it ran (`undefined`: pending). */
export async function migrationStatus(db: Db): Promise<MigrationStatus[]> {
  const all = await migrator(db).getMigrations();
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt }));
}
