import { CompiledQuery } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import { readConnectionBudget } from '../../shared/db/connection-budget.ts';
import { createDb, preparedStatement } from '../../shared/db/create-db.ts';
import { migrateUp, migrationStatus } from '../../shared/db/migrate.ts';
import type { PreparedStatementsSetting } from '../../shared/db/statement-plan.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { createTestDatabase, useTestDatabase } from '../fixtures/postgres.ts';

const PROBE = preparedStatement('lowburn_pooler_probe', 'SELECT $1::int * 2 AS n');
const log = createLogger({ level: 'silent' });

describe('behind PgBouncer in transaction mode', () => {
  const database = useTestDatabase();

  it('the suite really goes through the pooler', () => {
    expect(new URL(database.url).port).not.toBe(new URL(inject('directDatabaseUrl')).port);
  });

  /**
   * Two processes' pools (one connection each) take turns with the marked statement: the
   * pooler lends both the same idle server connection, one after the other.
   */
  async function takeTurns(setting: PreparedStatementsSetting) {
    const pools = [1, 2].map(() =>
      createDb({ url: database.url, poolMax: 1, preparedStatements: setting, log }),
    );
    const errors: string[] = [];
    try {
      for (let turn = 0; turn < 6; turn++) {
        const { db } = pools[turn % 2] as (typeof pools)[number];
        try {
          const { rows } = await db.executeQuery(CompiledQuery.raw(PROBE, [turn]));
          expect(rows).toEqual([{ n: turn * 2 }]);
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
      return { errors, decision: pools[0]?.statements.known };
    } finally {
      await Promise.all(pools.map((p) => p.db.destroy()));
    }
  }

  it('on: named statements break (PgBouncer 1.18 does not track them)', async () => {
    const { errors } = await takeTurns('on');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatch(
      /prepared statement "lowburn_pooler_probe" (already exists|does not exist)/,
    );
  });

  it('auto: the pooler is detected and every turn runs, unnamed', async () => {
    expect(await takeTurns('auto')).toEqual({
      errors: [],
      decision: {
        named: false,
        reason: 'auto: a pooler answered (the announced process id is not the backend)',
      },
    });
  });

  it('off: every turn runs', async () => {
    expect((await takeTurns('off')).errors).toEqual([]);
  });

  it('the boot budget knows it is behind a pooler', async () => {
    const { db, pool, statements } = createDb({ url: database.url, poolMax: 1, log });
    try {
      const budget = await readConnectionBudget(db, pool, statements, {
        poolMax: 10,
        fleetProcesses: 2,
      });
      expect(budget).toMatchObject({ behindPooler: true, namedStatements: false, planned: 26 });
    } finally {
      await db.destroy();
    }
  });

  it('migrations run through the pooler, two at once, each applied once', async () => {
    const empty = await createTestDatabase({ empty: true });
    const pools = [1, 2].map(() => createDb({ url: empty.url, poolMax: 2, log }));
    try {
      const first = pools[0] as (typeof pools)[number];
      const applied = await Promise.all(pools.map(({ db }) => migrateUp(db)));
      const status = await migrationStatus(first.db);
      expect(status.every((m) => m.executedAt !== undefined)).toBe(true);
      // The lock is a transaction lock (Kysely's session lock did not hold here: both ran 0002):
      // one run applied them all, the other found none left.
      expect(applied.map((names) => names.length).sort((a, b) => a - b)).toEqual([
        0,
        status.length,
      ]);
    } finally {
      await Promise.all(pools.map((p) => p.db.destroy()));
      await empty.drop();
    }
  });
});
