import type { DuckDBDataChunk } from '@duckdb/node-api';
import type { FinetuneInclude } from '../../shared/config/finetune-config.ts';

/** Where an example came from: a fallback (by why the local answer failed), or an added source. */
export const sourceKinds = [
  'fallback_error',
  'fallback_timeout',
  'fallback_invalid',
  'frontier_routed',
  'local_agreed',
  'local_corrected',
] as const;
export type SourceKind = (typeof sourceKinds)[number];

export interface SourceFilter {
  /** `[since, until)`. */
  since: Date;
  until: Date;
  /** One task type, or every one. */
  task: string | undefined;
  include: readonly FinetuneInclude[];
}

/**
 * The Postgres condition hot rows must meet (pushed into the COPY: rows no export reads never
 * leave Postgres). Names no table: it runs on `generations` and `generations_late` alike.
 */
export function hotWhere(filter: SourceFilter): string {
  const sources = ['fallback_reason IS NOT NULL'];
  if (filter.include.includes('frontier-routed')) {
    sources.push("(route = 'frontier' AND fallback_reason IS NULL)");
  }
  if (filter.include.includes('local-validated')) {
    // shadow_comparisons has no `id` column, so `id` is the generation's.
    sources.push("(route = 'local' AND id IN (SELECT generation_id FROM shadow_comparisons))");
  }
  return [
    ...commonConditions(filter, (d) => `'${d.toISOString()}'::timestamptz`),
    `(${sources.join(' OR ')})`,
    // A user whose erasure is recorded is never exported again, even before it is done.
    'user_id NOT IN (SELECT user_id FROM open_erasure_users)',
  ].join(' AND ');
}

/** Conditions every exported row meets, in either SQL dialect: answered by a model, in range. */
function commonConditions(filter: SourceFilter, time: (d: Date) => string): string[] {
  return [
    `created_at >= ${time(filter.since)}`,
    `created_at < ${time(filter.until)}`,
    // Failed generations have no answer to learn from; cache hits repeat an earlier answer.
    "status = 'completed'",
    'cache_layer IS NULL',
    'response IS NOT NULL',
    ...(filter.task ? [`task_type = '${filter.task.replaceAll("'", "''")}'`] : []),
  ];
}

/**
 * DuckDB over hot and cold `generations` (and `shadow_comparisons` for local-validated): every
 * source row with its kind and the answer to learn — the frontier's where a shadow comparison
 * disagreed with the local answer. One view, `finetune_source`, that the counts and the export
 * both read.
 */
export function sourceViewSql(filter: SourceFilter): string {
  const shadow = filter.include.includes('local-validated');
  const kinds = [
    "WHEN g.fallback_reason IS NOT NULL THEN 'fallback_' || g.fallback_reason",
    "WHEN g.route = 'frontier' THEN 'frontier_routed'",
    ...(shadow ? ["WHEN s.agreed THEN 'local_agreed'", "ELSE 'local_corrected'"] : []),
  ];
  const sources = ['g.fallback_reason IS NOT NULL'];
  if (filter.include.includes('frontier-routed')) {
    sources.push("(g.route = 'frontier' AND g.fallback_reason IS NULL)");
  }
  if (shadow) sources.push("(g.route = 'local' AND s.generation_id IS NOT NULL)");
  const conditions = commonConditions(filter, (d) => `'${d.toISOString()}'::TIMESTAMPTZ`).map(
    (c) => `g.${c}`,
  );
  return `
    CREATE TEMP VIEW finetune_source AS
    SELECT g.id, g.created_at, g.prompt_hash, g.user_id, CAST(g.request AS VARCHAR) AS request,
      ${shadow ? 'CASE WHEN s.agreed = false THEN s.frontier_answer ELSE g.response END' : 'g.response'} AS answer,
      CASE ${kinds.join(' ')} END AS kind
    FROM generations g
    ${shadow ? 'LEFT JOIN shadow_comparisons s ON s.generation_id = g.id' : ''}
    WHERE ${conditions.join(' AND ')} AND (${sources.join(' OR ')})
      -- hot rows' erased users were already left in Postgres by hotWhere
      AND coalesce(g.user_id NOT IN (SELECT user_id FROM open_erasure_users), true)`;
}

/**
 * The source rows' keys, read once: the counts and the dedup read this narrow table instead of
 * scanning the source (every cold file's filter columns, `response` among them) once each.
 */
export const keysSql = `
  CREATE TEMP TABLE finetune_keys AS
  SELECT id, created_at, prompt_hash, user_id, kind FROM finetune_source`;

/** Rows read, by kind. */
export const countsSql = `SELECT kind, count(*) AS n FROM finetune_keys GROUP BY kind`;

/**
 * The newest row of each normalised conversation (`prompt_hash`: the SHA-256 of the asked
 * messages with whitespace runs collapsed, as the generate job stored it) — the exact dedup,
 * before anything is scrubbed or split. Only keys are ranked (a window over whole rows would
 * need them all in memory); the text is joined back when streamed.
 */
export const winnersSql = `
  CREATE TEMP TABLE finetune_winners AS
  SELECT id, created_at FROM finetune_keys
  QUALIFY row_number() OVER (PARTITION BY prompt_hash ORDER BY created_at DESC, id DESC) = 1`;

/**
 * The users whose rows the dedup kept: a superset of those the written examples came from (a
 * row dropped later, by the scrubber or the token limit, still counts), for the set's user index.
 */
export const winnerUsersSql = `
  SELECT DISTINCT k.user_id FROM finetune_keys k
  SEMI JOIN finetune_winners w ON w.id = k.id AND w.created_at = k.created_at
  WHERE k.user_id IS NOT NULL`;

/** How many rows the dedup kept. */
export const winnersCountSql = `SELECT count(*) AS n FROM finetune_winners`;

/**
 * The kept rows with their text, in no particular order: sorting whole rows would need them in
 * DuckDB's memory (64 MB by default: it does not fit a day of wide rows); the newest-first
 * choices are made on keys instead.
 */
export const dedupedSql = `
  SELECT s.request, s.answer, s.kind, epoch_ms(s.created_at) AS at
  FROM finetune_source s SEMI JOIN finetune_winners w ON w.id = s.id AND w.created_at = s.created_at`;

/** One row of {@link dedupedSql}. */
export interface SourceRow {
  request: string | null;
  answer: string | null;
  kind: string | null;
  /** Milliseconds since the epoch. */
  at: number;
}

/**
 * The rows of one chunk of {@link dedupedSql}, each value read from DuckDB's vectors only when
 * its row is reached: a row's strings are made just before they are cleaned and die young,
 * instead of a whole chunk of row objects outliving the scavenges its cleaning causes.
 */
export function* sourceRows(chunk: DuckDBDataChunk): Generator<SourceRow> {
  const [request, answer, kind, at] = [0, 1, 2, 3].map((i) => chunk.getColumnVector(i));
  for (let r = 0; r < chunk.rowCount; r++) {
    yield {
      request: request?.getItem(r) as string | null,
      answer: answer?.getItem(r) as string | null,
      kind: kind?.getItem(r) as string | null,
      at: Number(at?.getItem(r)),
    };
  }
}
