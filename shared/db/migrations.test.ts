import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/fixtures/postgres.ts';
import { createLogger } from '../log/logger.ts';
import { createDb, type Db } from './create-db.ts';
import { migrateDown, migrateUp, migrationStatus } from './migrate.ts';
import { ensurePartitions } from './partitions.ts';

const tables = async (db: Db) =>
  (
    await sql<{
      name: string;
    }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`.execute(db)
  ).rows.map((r) => r.name);

describe('migrations on a fresh database', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Db;
  beforeAll(async () => {
    database = await createTestDatabase({ empty: true });
    db = createDb({ url: database.url, log: createLogger({ level: 'silent' }) }).db;
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  it('go up, report their status, and come back down to nothing', async () => {
    expect((await migrationStatus(db)).every((m) => m.executedAt === undefined)).toBe(true);
    expect(await migrateUp(db)).toContain('0001-initial');
    expect(await migrateUp(db)).toEqual([]);
    expect((await migrationStatus(db)).every((m) => m.executedAt instanceof Date)).toBe(true);
    expect(await tables(db)).toEqual(
      expect.arrayContaining([
        'alerts',
        'api_keys',
        'cache_audits',
        'cost_daily',
        'export_runs',
        'generations',
        'generations_late',
        'idempotency_keys',
        'telemetry',
        'telemetry_late',
        'usage_daily',
        'webhook_attempts',
        'webhook_deliveries',
        'webhook_disabled_urls',
        'webhook_endpoints',
      ]),
    );
    await ensurePartitions(db, { from: new Date('2026-01-01T12:00:00Z'), days: 2 });

    await migrateDown(db, { all: true });
    const left = (await tables(db)).filter((t) => !t.startsWith('lowburn_migration'));
    expect(left).toEqual([]);
    expect(await migrateUp(db)).toEqual([
      '0001-initial',
      '0002-telemetry-late',
      '0003-cold-export',
      '0004-webhooks',
      '0005-ledger-retention',
      '0006-secrets-at-rest',
      '0007-webhook-endpoints',
      '0008-cache-scope',
      '0009-precompute-runs',
      '0010-cache-audits',
      '0011-retrain-loop',
      '0012-model-versions',
      '0013-usage-rollup',
      '0014-budgets',
      '0015-alerts',
      '0016-day-usage',
      '0017-erasures',
      '0018-erasure-files',
    ]);
  });
});
