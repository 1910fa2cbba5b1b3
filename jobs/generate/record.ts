import type { Insertable, Selectable } from 'kysely';
import { writeByDay } from '../../shared/db/cold-days.ts';
import type { Db } from '../../shared/db/create-db.ts';
import type { GenerationsTable } from '../../shared/db/database.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { toStorableText } from '../../shared/json/storable-text.ts';

export type GenerationRow = Insertable<GenerationsTable>;

/**
 * Writes a job's row to `generations`, keyed by its job id and creation time (both survive a
 * retry), so a retried job leaves one row. A job whose day was already exported to cold storage
 * writes to `generations_late` instead, decided under the export's per-day lock.
 *
 * Text Postgres cannot store (NUL, lone surrogates: from a job queued around the API's checks,
 * or from a model's answer) is replaced with U+FFFD: a row that can never be written would fail
 * every attempt, and the failure path, which writes the same text, would never tell the caller.
 */
export async function recordGeneration(db: Db, given: GenerationRow): Promise<void> {
  const row = storableRow(given);
  const day = utcDay(new Date(row.created_at));
  await writeByDay(db, 'generations', [day], async (trx, cold) => {
    await trx
      .insertInto(cold.has(day) ? 'generations_late' : 'generations')
      .values(row)
      .onConflict((oc) => oc.columns(['id', 'created_at']).doNothing())
      .execute();
  });
}

/** The row with every text column storable; JSON columns are made storable when serialised. */
function storableRow(row: GenerationRow): GenerationRow {
  const copy: Record<string, unknown> = { ...row };
  for (const [column, value] of Object.entries(copy)) {
    if (typeof value === 'string') copy[column] = toStorableText(value);
  }
  return copy as GenerationRow;
}

/**
 * The row an earlier run of this job id wrote, if any (in either table): an earlier attempt, or
 * an earlier enqueue under the same id (the API's idempotency path re-enqueues once BullMQ has
 * forgotten a job, and the new job has a new timestamp, so the id alone decides).
 */
export async function recordedGeneration(
  db: Db,
  id: string,
): Promise<Selectable<GenerationsTable> | undefined> {
  // One round trip for both tables: this runs before every generation, cache hits included.
  return db
    .selectFrom('generations')
    .selectAll()
    .where('id', '=', id)
    .unionAll(db.selectFrom('generations_late').selectAll().where('id', '=', id))
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}
