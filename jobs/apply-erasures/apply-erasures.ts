import { join } from 'node:path';
import { sql } from 'kysely';
import { takeColdWriteLock } from '../../shared/cold/write-lock.ts';
import { connectClient, type Db } from '../../shared/db/create-db.ts';
import { type DuckDbSettings, openDuckDb } from '../../shared/duckdb/duckdb.ts';
import type { FinetuneTombstone } from '../../shared/finetune/manifest.ts';
import type { Logger } from '../../shared/log/logger.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';
import type { EraseContext } from './context.ts';
import { type DayErasure, eraseDay } from './erase-day.ts';
import { type ErasedSet, loadErasedSet, loadIntoDuckDb } from './erased-set.ts';
import { eraseFinetuneSets } from './finetune-sets.ts';

export interface ApplyErasuresOptions {
  db: Db;
  databaseUrl: string;
  storage: ObjectStorage;
  log: Logger;
  duckdb: Omit<DuckDbSettings, 'tempDirectory'>;
  workDir: string;
  now?: () => Date;
  signal?: AbortSignal;
  afterStep?: EraseContext['afterStep'];
  /**
   * Asks for a removed fine-tune set to be exported again (the job enqueues `export-finetune`
   * with `rebuild`); called for every tombstoned set, so it must be idempotent per tombstone.
   */
  rebuildFinetuneSet?: (prefix: string, tombstone: FinetuneTombstone) => Promise<void>;
}

export interface ApplyErasuresResult {
  /** Erasures of the batch (status `hot-done` when the run began). */
  erasures: number;
  /** Erasures set to `done` by this run. */
  finished: number;
  days: DayErasure[];
  filesScanned: number;
  filesRewritten: number;
  rowsRemoved: number;
  /**
   * Days the export has not finished (no verified manifest yet): their files are not published,
   * and the export writes them from partitions the hot erasure already cleaned. The batch stays
   * open until they are exported.
   */
  waitingForExport: { table: string; day: string; state: string }[];
  /** Fine-tune sets removed by this run (folders), each rebuilt by an `export-finetune` job. */
  finetuneSetsRemoved: string[];
}

/** Another process writes the cold store (an export, or another `apply-erasures`). */
export class ColdStoreBusyError extends Error {
  constructor() {
    super('another export-cold or apply-erasures run is writing the cold store; retrying later');
    this.name = 'ColdStoreBusyError';
  }
}

/**
 * The `apply-erasures` run: every erasure whose hot side is done, applied to every exported
 * day at once — each affected Parquet file rewritten once for the whole batch (see
 * `erase-day.ts`) — then the erasures closed: `done`, `user_id` NULL, cold counts merged.
 * Holds the cold store's write lock throughout, so no export changes a day under it.
 */
export async function applyErasures(options: ApplyErasuresOptions): Promise<ApplyErasuresResult> {
  const now = options.now ?? (() => new Date());
  // The cold store's write lock: no export changes a day under the rewrite.
  const lock = await takeColdWriteLock(
    () =>
      connectClient({
        url: options.databaseUrl,
        applicationName: 'lowburn apply-erasures',
        log: options.log,
      }),
    'apply-erasures',
  );
  if (!lock) throw new ColdStoreBusyError();
  let duck: Awaited<ReturnType<typeof openDuckDb>> | undefined;
  try {
    duck = await openDuckDb({
      ...options.duckdb,
      tempDirectory: join(options.workDir, '.duckdb-spill'),
    });
    const set = await loadErasedSet(options.db);
    await loadIntoDuckDb(duck.connection, set);
    const ctx: EraseContext = {
      db: options.db,
      duck: duck.connection,
      storage: options.storage,
      log: options.log,
      workDir: options.workDir,
      now,
      signal: options.signal,
      afterStep: options.afterStep,
    };
    const { published, waiting } = await daysToErase(options.db);
    const days: DayErasure[] = [];
    for (const { table, day } of published) {
      lock.check();
      days.push(await eraseDay(ctx, table, day, set));
    }
    const finetune = await eraseFinetuneSets(
      ctx,
      set,
      options.rebuildFinetuneSet ?? (async () => {}),
    );
    const finished =
      waiting.length === 0 && set.erasures.length > 0 ? await finishErasures(ctx, set) : 0;
    if (waiting.length > 0 && set.erasures.length > 0) {
      options.log.warn({ waiting }, 'erasures stay open until these days are exported');
    }
    const total = (k: 'filesScanned' | 'filesRewritten' | 'rowsRemoved') =>
      days.reduce((n, d) => n + d[k], 0);
    return {
      erasures: set.erasures.length,
      finished,
      days: days.filter((d) => d.filesScanned > 0),
      filesScanned: total('filesScanned'),
      filesRewritten: total('filesRewritten'),
      rowsRemoved: total('rowsRemoved'),
      waitingForExport: waiting,
      finetuneSetsRemoved: finetune.removed,
    };
  } finally {
    duck?.close();
    await lock.release();
  }
}

/** Exported days (a manifest is published: `verified` or `dropped`), and days mid-export. */
async function daysToErase(db: Db) {
  const runs = await db
    .selectFrom('export_runs')
    .select(['table_name', 'day', 'state'])
    .orderBy('table_name')
    .orderBy('day')
    .execute();
  const published = runs
    .filter((r) => r.state === 'verified' || r.state === 'dropped')
    .map((r) => ({ table: r.table_name, day: r.day }));
  const waiting = runs
    .filter((r) => r.state !== 'verified' && r.state !== 'dropped')
    .map((r) => ({ table: r.table_name, day: r.day, state: r.state }));
  return { published, waiting };
}

/**
 * Closes the batch: `done`, `cold_done_at`, `user_id` NULL, and `counts.cold` — rows removed
 * per table and files rewritten, summed over every replacement that removed the erasure's rows.
 */
async function finishErasures(ctx: EraseContext, set: ErasedSet): Promise<number> {
  const ids = set.erasures.map((e) => e.id);
  const finished = await ctx.db.transaction().execute(async (trx) => {
    const counts = await sql<{ id: string; table_name: string; rows: string; files: string }>`
      SELECT e.id, f.table_name, sum((f.removed ->> e.id)::bigint) AS rows, count(*) AS files
      FROM unnest(${ids}::text[]) AS e(id)
      JOIN erasure_files f ON f.removed ? e.id
      GROUP BY e.id, f.table_name`.execute(trx);
    let n = 0;
    for (const erasure of set.erasures) {
      const mine = counts.rows.filter((c) => c.id === erasure.id);
      const cold = {
        rows: Object.fromEntries(mine.map((c) => [c.table_name, Number(c.rows)])),
        files: mine.reduce((s, c) => s + Number(c.files), 0),
      };
      const updated = await trx
        .updateTable('erasures')
        .set({
          status: 'done',
          cold_done_at: ctx.now(),
          user_id: null,
          counts: sql`counts || jsonb_build_object('cold', ${JSON.stringify(cold)}::jsonb)`,
        })
        .where('id', '=', erasure.id)
        .where('status', '=', 'hot-done')
        .executeTakeFirst();
      n += Number(updated.numUpdatedRows);
    }
    return n;
  });
  ctx.log.info({ erasures: finished }, 'erasures applied to cold storage');
  await ctx.afterStep?.('finished', { table: '', day: '' });
  return finished;
}
