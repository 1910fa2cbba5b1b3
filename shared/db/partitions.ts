import { sql } from 'kysely';
import type { Db } from './create-db.ts';

/** Hot tables partitioned by UTC day, and the column each is partitioned on. */
export const partitionedTables = {
  telemetry: 'ts',
  generations: 'created_at',
} as const;

export type PartitionedTable = keyof typeof partitionedTables;

/** `telemetry` + `2026-11-25` → `telemetry_p20261125`. */
export function partitionName(table: PartitionedTable, day: string): string {
  return `${table}_p${day.replaceAll('-', '')}`;
}

/** The UTC day (`YYYY-MM-DD`) of a moment, optionally shifted by whole days. */
export function utcDay(at: Date, offsetDays = 0): string {
  return new Date(at.getTime() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

// Any constant works; it only has to be the same in every process creating partitions.
const PARTITION_LOCK = 0x6c6f_7762; // "lowb"

/**
 * Creates the day partitions of `tables` for `days` days starting at `from` (UTC), skipping
 * the ones that exist and the days already handed to the cold export (their rows go to the
 * late table; re-creating a dropped partition would hide them from the export). Safe to run
 * from many workers at once: a transaction-scoped advisory lock serialises them. Returns the
 * partitions it created.
 */
export async function ensurePartitions(
  db: Db,
  options: { from: Date; days: number; tables?: readonly PartitionedTable[] },
): Promise<string[]> {
  const tables = options.tables ?? (Object.keys(partitionedTables) as PartitionedTable[]);
  const wanted = tables.flatMap((table) =>
    Array.from({ length: options.days }, (_, i) => ({ table, day: utcDay(options.from, i) })),
  );
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`.execute(trx);
    const exported = new Set(
      (
        await trx
          .selectFrom('export_runs')
          .select(['table_name', 'day'])
          .where('day', 'in', [...new Set(wanted.map((w) => w.day))])
          .execute()
      ).map((r) => `${r.table_name}/${r.day}`),
    );
    const created: string[] = [];
    for (const { table, day } of wanted) {
      if (exported.has(`${table}/${day}`)) continue;
      const name = partitionName(table, day);
      const exists = await sql<{ oid: string | null }>`SELECT to_regclass(${name}) AS oid`.execute(
        trx,
      );
      if (exists.rows[0]?.oid) continue;
      const next = utcDay(new Date(`${day}T00:00:00Z`), 1);
      await sql`CREATE TABLE ${sql.table(name)} PARTITION OF ${sql.table(table)}
        FOR VALUES FROM (${sql.lit(`${day} 00:00:00+00`)}) TO (${sql.lit(`${next} 00:00:00+00`)})`.execute(
        trx,
      );
      created.push(name);
    }
    return created;
  });
}

// Days whose partition this process has seen exist, per table: the common write (rows of today)
// then costs no partition check at all.
const knownPartitions = new WeakMap<Db, Set<string>>();

/**
 * Makes sure `table` has a partition for `day` before a write, checking Postgres once per day
 * and process. Creates none for a day already handed to the cold export: writers send those
 * rows to the late table (see `coldDaysForWrite`).
 */
export async function ensureDayPartition(
  db: Db,
  table: PartitionedTable,
  day: string,
): Promise<void> {
  const known = knownPartitions.get(db) ?? new Set<string>();
  knownPartitions.set(db, known);
  if (known.has(`${table}/${day}`)) return;
  await ensurePartitions(db, { from: new Date(`${day}T00:00:00Z`), days: 1, tables: [table] });
  known.add(`${table}/${day}`);
}

/** Existing day partitions of a table, oldest first, as `{ name, day }`. */
export async function listPartitions(
  db: Db,
  table: PartitionedTable,
): Promise<{ name: string; day: string }[]> {
  const result = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = ${table} AND p.relnamespace = to_regnamespace(current_schema())::oid
    ORDER BY c.relname`.execute(db);
  return result.rows.flatMap(({ name }) => {
    const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
    return m ? [{ name, day: `${m[1]}-${m[2]}-${m[3]}` }] : [];
  });
}

/**
 * Detaches a day partition from its table without blocking the table's writers, so that it can
 * then be dropped under a lock on itself alone. `DROP TABLE` on an attached partition needs an
 * ACCESS EXCLUSIVE lock on the parent: it waits for every running read of the table (the hourly
 * rollup reads a whole day) and, while it waits, queues every insert behind it. `DETACH
 * PARTITION … CONCURRENTLY` (Postgres 14+) takes SHARE UPDATE EXCLUSIVE instead, which inserts and
 * reads do not wait for; it then waits for the transactions that could still see the partition.
 * It cannot run in a transaction block, so it runs on a connection of its own; a detach that was
 * interrupted (the partition left "detach pending") is finished with `FINALIZE`. Returns whether
 * the partition exists (attached or not) afterwards.
 */
export async function detachPartition(
  db: Db,
  table: PartitionedTable,
  day: string,
  options: { lockTimeout?: string } = {},
): Promise<boolean> {
  const partition = partitionName(table, day);
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{ exists: boolean; pending: boolean | null }>`
      SELECT to_regclass(${partition}) IS NOT NULL AS exists,
        (SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(${partition})) AS pending
    `.execute(conn);
    const state = rows[0];
    if (!state?.exists) return false;
    if (state.pending === null) return true; // detached already
    await sql`SELECT set_config('lock_timeout', ${options.lockTimeout ?? '5min'}, false)`.execute(
      conn,
    );
    try {
      await sql`ALTER TABLE ${sql.table(table)} DETACH PARTITION ${sql.table(partition)} ${sql.raw(
        state.pending ? 'FINALIZE' : 'CONCURRENTLY',
      )}`.execute(conn);
    } finally {
      await sql`RESET lock_timeout`.execute(conn);
    }
    return true;
  });
}
