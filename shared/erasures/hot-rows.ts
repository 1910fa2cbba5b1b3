import { type RawBuilder, sql } from 'kysely';
import { lateTables } from '../db/cold-days.ts';
import type { Db } from '../db/create-db.ts';
import { type PartitionedTable, partitionedTables } from '../db/partitions.ts';

/** The hot tables that hold a user's rows, each a day-partitioned table or its late table. */
export const hotRowTables = [
  { table: 'telemetry', partitioned: 'telemetry' },
  { table: 'telemetry_late', partitioned: 'telemetry' },
  { table: 'generations', partitioned: 'generations' },
  { table: 'generations_late', partitioned: 'generations' },
] as const satisfies readonly { table: string; partitioned: PartitionedTable }[];

export type HotRowTable = (typeof hotRowTables)[number]['table'];

export const isLateTable = (table: HotRowTable) =>
  (Object.values(lateTables) as string[]).includes(table);

/** Who the erasure names: the user, and devices whose telemetry goes whoever it names. */
export interface ErasureSubject {
  userId: string;
  deviceIds: readonly string[];
}

/** The rows of `table` that belong to the subject (telemetry: theirs or their devices'). */
export function subjectRows(table: HotRowTable, subject: ErasureSubject): RawBuilder<boolean> {
  if (table.startsWith('telemetry') && subject.deviceIds.length > 0) {
    return sql<boolean>`(user_id = ${subject.userId} OR device_id = ANY(${[...subject.deviceIds]}::text[]))`;
  }
  return sql<boolean>`user_id = ${subject.userId}`;
}

/** `created_at` / `ts`: the column the table's days are cut by. */
export const dayColumn = (table: HotRowTable) =>
  partitionedTables[hotRowTables.find((t) => t.table === table)?.partitioned ?? 'telemetry'];

/** The subject's rows in `table`, counted per UTC day (oldest first). */
export async function subjectRowsByDay(
  db: Db,
  table: HotRowTable,
  subject: ErasureSubject,
): Promise<{ day: string; rows: number }[]> {
  const column = sql.ref(dayColumn(table));
  const { rows } = await sql<{ day: string; rows: string }>`
    SELECT to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS rows
    FROM ${sql.table(table)} WHERE ${subjectRows(table, subject)}
    GROUP BY 1 ORDER BY 1`.execute(db);
  return rows.map((r) => ({ day: r.day, rows: Number(r.rows) }));
}

/** `[from, to)` of a UTC day, as SQL timestamptz literals' text. */
export function dayRange(day: string): { from: string; to: string } {
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  return { from: `${day} 00:00:00+00`, to: `${next} 00:00:00+00` };
}
