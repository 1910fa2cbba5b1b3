import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { createLogger } from '../log/logger.ts';
import { createClient, createDb, preparedStatement } from './create-db.ts';

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

  /**
   * Runs `query` (a `pg_sleep` under `applicationName`), kills its backend as Postgres does on
   * a restart, and returns the query's error and the process's uncaught exceptions.
   */
  async function killedMidQuery(applicationName: string, query: () => Promise<unknown>) {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const running = query().then(
        () => undefined,
        (error: Error) => error,
      );
      const admin = new pg.Client({ connectionString: inject('databaseUrl') });
      await admin.connect();
      await expect
        .poll(async () => {
          const killed = await admin.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND state = 'active'`,
            [applicationName],
          );
          return killed.rowCount;
        })
        .toBe(1);
      await admin.end();
      const error = await running;
      // pg emits the lost connection's 'error' event after the query has failed.
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { error, uncaught };
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  }

  it('survives a connection killed in the middle of a transaction: the query fails, the process goes on', async () => {
    // A client in use has no listener of the pool's; its 'error' event used to crash the process.
    const { db } = createDb({
      url: database.url,
      poolMax: 1,
      log: createLogger({ level: 'silent' }),
      applicationName: 'pool-busy-test',
    });
    try {
      const { error, uncaught } = await killedMidQuery('pool-busy-test', () =>
        db.transaction().execute((trx) => sql`SELECT pg_sleep(5)`.execute(trx)),
      );
      // The lost connection's error, or its failed ROLLBACK's ("… is not queryable"): timing.
      expect(error?.message).toMatch(/terminat|not queryable/);
      expect(uncaught).toEqual([]);
      const after = await sql<{ one: number }>`SELECT 1 AS one`.execute(db);
      expect(after.rows).toEqual([{ one: 1 }]);
    } finally {
      await db.destroy();
    }
  });

  it('gives a connection of its own the same listener (the export, lowburn query)', async () => {
    const client = createClient({ url: database.url, applicationName: 'own-client-test' });
    await client.connect();
    const { error, uncaught } = await killedMidQuery('own-client-test', () =>
      client.query('SELECT pg_sleep(5)'),
    );
    expect(error?.message).toMatch(/terminat/);
    expect(uncaught).toEqual([]);
    await client.end().catch(() => {});
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
