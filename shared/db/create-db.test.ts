import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { createLogger } from '../log/logger.ts';
import { createDb, preparedStatement } from './create-db.ts';

describe('the Postgres pool', () => {
  const database = useTestDatabase();

  it('survives its idle connections being killed, and reconnects for the next query', async () => {
    const warnings: unknown[] = [];
    const log = createLogger({ level: 'warn' });
    log.warn = ((obj: unknown) => warnings.push(obj)) as typeof log.warn;
    const { db } = createDb({ url: database.url, poolMax: 2, log, applicationName: 'pool-test' });
    try {
      await sql`SELECT 1`.execute(db);
      // What a Postgres restart does to idle clients: without the pool's error listener this
      // 'error' event would be unhandled and crash the process.
      const admin = new pg.Client({ connectionString: inject('databaseUrl') });
      await admin.connect();
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool-test'",
      );
      await admin.end();
      await expect.poll(() => warnings.length, { timeout: 5_000 }).toBeGreaterThan(0);
      const after = await sql<{ one: number }>`SELECT 1 AS one`.execute(db);
      expect(after.rows).toEqual([{ one: 1 }]);
    } finally {
      await db.destroy();
    }
  });

  it('runs a text marked as a prepared statement by its name, parsed once per connection', async () => {
    const { db } = createDb({
      url: database.url,
      poolMax: 1,
      log: createLogger({ level: 'silent' }),
    });
    const text = preparedStatement('pool_test_prepared', 'SELECT $1::int + 1 AS n');
    expect(() => preparedStatement('another_name', text)).toThrow(/prepared as pool_test_prepared/);
    try {
      for (const n of [1, 2]) {
        const { rows } = await db.executeQuery(CompiledQuery.raw(text, [n]));
        expect(rows).toEqual([{ n: n + 1 }]);
      }
      const prepared = await sql<{ name: string }>`SELECT name FROM pg_prepared_statements`.execute(
        db,
      );
      expect(prepared.rows).toEqual([{ name: 'pool_test_prepared' }]);
    } finally {
      await db.destroy();
    }
  });
});
