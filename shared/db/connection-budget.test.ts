import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { createLogger } from '../log/logger.ts';
import { checkConnectionBudget, OTHER_CONNECTIONS } from './connection-budget.ts';
import { createDb } from './create-db.ts';

/** A logger whose lines are kept. */
function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('the connection budget at boot', () => {
  const database = useTestDatabase();

  async function check(plan: { poolMax: number; fleetProcesses: number }) {
    const { db, pool, statements } = createDb({
      url: database.url,
      poolMax: 1,
      log: createLogger({ level: 'silent' }),
    });
    const { log, lines } = capturingLogger();
    try {
      const budget = await checkConnectionBudget(db, pool, statements, plan, log);
      const max = await sql<{ max_connections: string }>`SHOW max_connections`.execute(db);
      return { budget, lines, maxConnections: Number(max.rows[0]?.max_connections) };
    } finally {
      await db.destroy();
    }
  }

  it("reads the server's max_connections and logs the plan; no warning when it fits", async () => {
    const { budget, lines, maxConnections } = await check({ poolMax: 1, fleetProcesses: 1 });
    expect(budget).toMatchObject({
      poolMax: 1,
      fleetProcesses: 1,
      planned: 1 + OTHER_CONNECTIONS,
      maxConnections,
      behindPooler: false,
      namedStatements: true,
    });
    expect(lines.map((l) => l.msg)).toEqual(['postgres connection budget']);
  });

  it('warns, naming the settings, when the fleet would pass max_connections', async () => {
    const { budget, lines } = await check({ poolMax: 100, fleetProcesses: 1000 });
    expect(budget?.planned).toBe(100_006);
    const warning = lines.find((l) => l.level === 40);
    expect(warning?.msg).toMatch(
      /DATABASE_POOL_MAX 100 × DATABASE_FLEET_PROCESSES 1000 \+ 6 .* = 100006\) pass the server's max_connections/,
    );
  });

  it('logs and goes on when Postgres does not answer', async () => {
    const { db, pool, statements } = createDb({
      url: 'postgres://postgres@127.0.0.1:1/none',
      poolMax: 1,
      log: createLogger({ level: 'silent' }),
    });
    const { log, lines } = capturingLogger();
    try {
      expect(
        await checkConnectionBudget(db, pool, statements, { poolMax: 1, fleetProcesses: 1 }, log),
      ).toBeUndefined();
      expect(lines.map((l) => l.msg)).toEqual([
        'could not read max_connections; the connection budget is unchecked',
      ]);
    } finally {
      await db.destroy();
    }
  });
});
