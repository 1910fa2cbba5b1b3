import { type MigrationResultSet, Migrator, NO_MIGRATIONS } from 'kysely/migration';
import type { Db } from './create-db.ts';
import { migrations } from './migrations/index.ts';

export interface MigrationStatus {
  name: string;
  executedAt: Date | undefined;
}

function migrator(db: Db): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
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

/** Applies every pending migration; returns the names applied. Kysely's lock makes it safe to run concurrently. */
export async function migrateUp(db: Db): Promise<string[]> {
  return unwrap(await migrator(db).migrateToLatest());
}

/** Reverts the last migration, or every migration with `{ all: true }`; returns the names reverted. */
export async function migrateDown(db: Db, options: { all?: boolean } = {}): Promise<string[]> {
  const m = migrator(db);
  return unwrap(options.all ? await m.migrateTo(NO_MIGRATIONS) : await m.migrateDown());
}

/** Every known migration and when it ran (`undefined`: pending). */
export async function migrationStatus(db: Db): Promise<MigrationStatus[]> {
  const all = await migrator(db).getMigrations();
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt }));
}
