import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sql } from 'kysely';
import {
  type Manifest,
  type ManifestErasure,
  type ManifestFile,
  manifestErasureSchema,
  manifestFileSchema,
} from '../../shared/cold/layout.ts';
import { writeManifest } from '../../shared/cold/manifest-write.ts';
import type { Db } from '../../shared/db/create-db.ts';
import type { ErasureFilesTable } from '../../shared/db/database.ts';
import { type EraseContext, PARQUET } from './context.ts';
import { type ErasedSet, fileMayHold } from './erased-set.ts';
import { type RewrittenFile, rewriteFile, verifyUploaded } from './rewrite-file.ts';

type ErasureFileState = ErasureFilesTable['state'];

/** What erasing one day did. */
export interface DayErasure {
  table: string;
  day: string;
  /** Files whose index (or lack of one) named an erased user or device, and were read. */
  filesScanned: number;
  filesRewritten: number;
  rowsRemoved: number;
}

interface DayRow {
  files: ManifestFile[];
  columns: Manifest['columns'];
  startedAt: Date;
  erasures: ManifestErasure[];
}

async function loadDay(db: Db, table: string, day: string): Promise<DayRow> {
  const row = await db
    .selectFrom('export_runs')
    .select(['files', 'columns', 'started_at', 'erasures'])
    .where('table_name', '=', table)
    .where('day', '=', day)
    .executeTakeFirstOrThrow();
  return {
    files: manifestFileSchema.array().parse(row.files),
    columns: row.columns as Manifest['columns'],
    startedAt: row.started_at,
    erasures: manifestErasureSchema.array().parse(row.erasures ?? []),
  };
}

async function setFileState(
  db: Db,
  at: { table: string; day: string; oldKey: string },
  from: ErasureFileState,
  to: ErasureFileState,
): Promise<void> {
  const result = await db
    .updateTable('erasure_files')
    .set({ state: to, updated_at: sql`now()` })
    .where('table_name', '=', at.table)
    .where('day', '=', at.day)
    .where('old_key', '=', at.oldKey)
    .where('state', '=', from)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) {
    throw new Error(`erasure of ${at.oldKey} moved on under us (expected "${from}")`);
  }
}

/**
 * Removes the erased set's rows from one exported day, resuming whatever an earlier run left:
 * 1. replacements already committed are published (manifest from `export_runs`), then their
 *    old objects deleted;
 * 2. replacements not committed (a crash before the day's commit) are discarded, objects and
 *    rows: the day is redone with the current set, so it still costs one rewrite per file;
 * 3. every file the set may touch is rewritten (written → uploaded → verified, per file);
 * 4. one transaction swaps the replacements into `export_runs.files` and records the erasure;
 * 5. the manifest is replaced (a reader sees the old set or the new), the old objects go.
 */
export async function eraseDay(
  ctx: EraseContext,
  table: string,
  day: string,
  set: ErasedSet,
): Promise<DayErasure> {
  const result: DayErasure = { table, day, filesScanned: 0, filesRewritten: 0, rowsRemoved: 0 };
  await publishCommitted(ctx, table, day);
  await discardUncommitted(ctx, table, day);
  if (set.erasures.length === 0) return result;

  const before = await loadDay(ctx.db, table, day);
  const rewritten: RewrittenFile[] = [];
  try {
    for (const file of before.files.filter((f) => fileMayHold(f, set))) {
      ctx.signal?.throwIfAborted();
      result.filesScanned++;
      const done = await rewriteFile(ctx, table, file, set);
      if (!done) continue;
      rewritten.push(done);
      await stageReplacement(ctx, table, day, done);
    }
  } finally {
    // Each replacement sits in its object's own folder (see rewriteFile).
    for (const r of rewritten) await rm(dirname(r.local), { recursive: true, force: true });
  }
  if (rewritten.length === 0) return result;

  await commitDay(ctx, table, day, before, rewritten, set);
  await publishCommitted(ctx, table, day);
  result.filesRewritten = rewritten.length;
  result.rowsRemoved = rewritten.reduce((n, r) => n + r.old.rows - r.entry.rows, 0);
  return result;
}

/** written → uploaded → verified for one replacement. */
async function stageReplacement(
  ctx: EraseContext,
  table: string,
  day: string,
  r: RewrittenFile,
): Promise<void> {
  const at = { table, day, oldKey: r.old.key };
  await ctx.db
    .insertInto('erasure_files')
    .values({
      table_name: table,
      day,
      old_key: r.old.key,
      new_key: r.entry.key,
      state: 'written',
      old_rows: r.old.rows,
      rows: r.entry.rows,
      bytes: r.entry.bytes,
      sha256: r.entry.sha256,
      removed: JSON.stringify(r.removed),
    })
    .execute();
  await ctx.afterStep?.('written', { table, day, key: r.old.key });
  await ctx.storage.put(
    r.entry.key,
    { file: r.local },
    { expectedSha256: r.entry.sha256, contentType: PARQUET },
  );
  await setFileState(ctx.db, at, 'written', 'uploaded');
  await ctx.afterStep?.('uploaded', { table, day, key: r.old.key });
  await verifyUploaded(ctx, r.entry);
  await setFileState(ctx.db, at, 'uploaded', 'verified');
  await ctx.afterStep?.('verified', { table, day, key: r.old.key });
}

/**
 * The day's replacements, all verified, swapped into `export_runs.files` with the erasure's
 * record, in one transaction with their `committed` state; refused if the day's files changed
 * since they were read (they cannot while the cold-write lock is held: a guard).
 */
async function commitDay(
  ctx: EraseContext,
  table: string,
  day: string,
  before: DayRow,
  rewritten: RewrittenFile[],
  set: ErasedSet,
): Promise<void> {
  const byOld = new Map(rewritten.map((r) => [r.old.key, r]));
  const files = before.files.map((f) => byOld.get(f.key)?.entry ?? f);
  const matched = new Set(rewritten.flatMap((r) => Object.keys(r.removed)));
  const record: ManifestErasure = {
    appliedAt: ctx.now().toISOString(),
    userHashes: set.erasures.filter((e) => matched.has(e.id)).map((e) => e.userHash),
    rows: rewritten.reduce((n, r) => n + r.old.rows - r.entry.rows, 0),
    files: rewritten.map((r) => ({
      from: r.old.key,
      to: r.entry.key,
      removed: r.old.rows - r.entry.rows,
    })),
  };
  await ctx.db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('export_runs')
      .select('files')
      .where('table_name', '=', table)
      .where('day', '=', day)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const keys = (list: unknown[]) => list.map((f) => (f as ManifestFile).key).join('\n');
    if (keys(current.files) !== keys(before.files)) {
      throw new Error(`${table} ${day}: its files changed while erasures were applied; rerun`);
    }
    await trx
      .updateTable('export_runs')
      .set({
        files: JSON.stringify(files),
        rows: files.reduce((n, f) => n + f.rows, 0),
        bytes: files.reduce((n, f) => n + f.bytes, 0),
        erasures: JSON.stringify([...before.erasures, record]),
        updated_at: sql`now()`,
      })
      .where('table_name', '=', table)
      .where('day', '=', day)
      .execute();
    const moved = await trx
      .updateTable('erasure_files')
      .set({ state: 'committed', updated_at: sql`now()` })
      .where('table_name', '=', table)
      .where('day', '=', day)
      .where('state', '=', 'verified')
      .where(
        'old_key',
        'in',
        rewritten.map((r) => r.old.key),
      )
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== rewritten.length) {
      throw new Error(`${table} ${day}: a replacement was not verified; not committing`);
    }
  });
  ctx.log.info({ table, day, files: rewritten.length, rows: record.rows }, 'erasures committed');
  await ctx.afterStep?.('committed', { table, day });
}

/** Committed replacements: the manifest from `export_runs`, then the old objects deleted. */
async function publishCommitted(ctx: EraseContext, table: string, day: string): Promise<void> {
  const committed = await ctx.db
    .selectFrom('erasure_files')
    .select('old_key')
    .where('table_name', '=', table)
    .where('day', '=', day)
    .where('state', '=', 'committed')
    .execute();
  if (committed.length === 0) return;
  const row = await loadDay(ctx.db, table, day);
  await writeManifest(
    ctx.storage,
    {
      table,
      day,
      files: row.files,
      columns: row.columns,
      exportedAt: row.startedAt,
      erasures: row.erasures,
    },
    ctx.now(),
  );
  await ctx.afterStep?.('published', { table, day });
  for (const { old_key } of committed) {
    await ctx.storage.delete(old_key);
    await setFileState(ctx.db, { table, day, oldKey: old_key }, 'committed', 'deleted');
    await ctx.afterStep?.('deleted', { table, day, key: old_key });
  }
}

/** Replacements an earlier run wrote but never committed: no manifest names them; they go. */
async function discardUncommitted(ctx: EraseContext, table: string, day: string): Promise<void> {
  const stale = await ctx.db
    .selectFrom('erasure_files')
    .select(['old_key', 'new_key'])
    .where('table_name', '=', table)
    .where('day', '=', day)
    .where('state', 'in', ['written', 'uploaded', 'verified'])
    .execute();
  for (const s of stale) {
    await ctx.storage.delete(s.new_key);
    await ctx.db
      .deleteFrom('erasure_files')
      .where('table_name', '=', table)
      .where('day', '=', day)
      .where('old_key', '=', s.old_key)
      .execute();
  }
  if (stale.length > 0) {
    ctx.log.warn({ table, day, files: stale.length }, 'discarded replacements an earlier run left');
  }
}
