import { CompiledQuery, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { createLogger } from '../log/logger.ts';
import { createDb, preparedStatement } from './create-db.ts';
import { type PreparedStatementsSetting, poolerAddress, StatementPlan } from './statement-plan.ts';

const PROBE = preparedStatement('lowburn_plan_probe', 'SELECT $1::int + 1 AS n');
const log = createLogger({ level: 'silent' });

describe('DATABASE_PREPARED_STATEMENTS', () => {
  const database = useTestDatabase();

  /** Runs the marked statement three times on a one-connection pool; the names it prepared. */
  async function prepared(setting: PreparedStatementsSetting) {
    const { db, statements } = createDb({
      url: database.url,
      poolMax: 1,
      preparedStatements: setting,
      log,
    });
    try {
      for (const n of [1, 2, 3]) {
        const { rows } = await db.executeQuery<{ n: number }>(CompiledQuery.raw(PROBE, [n]));
        expect(rows).toEqual([{ n: n + 1 }]);
      }
      const names = await sql<{ name: string }>`SELECT name FROM pg_prepared_statements`.execute(
        db,
      );
      return { names: names.rows.map((r) => r.name), decision: statements.known };
    } finally {
      await db.destroy();
    }
  }

  it('off: unnamed statements only, nothing stays prepared on the connection', async () => {
    expect(await prepared('off')).toEqual({
      names: [],
      decision: { named: false, reason: 'DATABASE_PREPARED_STATEMENTS=off' },
    });
  });

  it('on: the marked statement is prepared once on the connection', async () => {
    expect((await prepared('on')).names).toEqual(['lowburn_plan_probe']);
  });

  it('auto, straight to Postgres: named, decided by the first connection that needed it', async () => {
    expect(await prepared('auto')).toEqual({
      names: ['lowburn_plan_probe'],
      decision: { named: true, reason: 'auto: Postgres answered directly' },
    });
  });

  it("auto knows a pooler by its address without asking: PgBouncer's port, Supabase's", () => {
    for (const url of [
      'postgres://u:p@db.internal:6432/lowburn',
      'postgres://u:p@db.internal:6543/lowburn',
      'postgres://postgres.ref:p@aws-0-eu-central-1.pooler.supabase.com:5432/postgres',
    ]) {
      expect(new StatementPlan('auto', url).known, url).toMatchObject({ named: false });
    }
    expect(poolerAddress('postgres://u@127.0.0.1:5432/lowburn')).toBeUndefined();
    expect(new StatementPlan('auto', 'postgres://u@127.0.0.1:5432/lowburn').known).toBeUndefined();
    // Set explicitly, the setting wins over the address.
    expect(new StatementPlan('on', 'postgres://u@h:6432/x').known?.named).toBe(true);
  });

  it('auto decides once per pool, and a failed probe decides nothing', async () => {
    const plan = new StatementPlan('auto', 'postgres://u@127.0.0.1:5432/x');
    await expect(plan.decide(() => Promise.reject(new Error('lost')))).rejects.toThrow('lost');
    expect(plan.known).toBeUndefined();
    let asked = 0;
    const identify = async () => {
      asked++;
      return { announced: 4242, backend: 77 };
    };
    const [a, b] = await Promise.all([plan.decide(identify), plan.decide(identify)]);
    expect(a).toEqual({
      named: false,
      reason: 'auto: a pooler answered (the announced process id is not the backend)',
    });
    expect(b).toBe(a);
    expect(asked).toBe(1);
  });
});
