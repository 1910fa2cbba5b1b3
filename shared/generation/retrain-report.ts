import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';
import { utcDay } from '../db/partitions.ts';
import { withColdQuery } from '../duckdb/cold-query.ts';
import type { DuckDbSettings } from '../duckdb/duckdb.ts';
import { latestModelVersion } from '../inference/model-versions.ts';
import type { ObjectStorage } from '../storage/storage.ts';

/** How far before and after the change the report looks. */
export const REPORT_WINDOW_MS = 7 * 24 * 3600_000;

/** One side (before or after the change) of one task type. */
export interface SideFigures {
  /** Generations a model answered (completed, no cache layer): the fallback share's denominator. */
  answered: number;
  /** Of those, answered by the frontier model because the local one failed (`fallback_reason`). */
  fallbacks: number;
  /** fallbacks ÷ answered; null when nothing was answered. */
  fallbackShare: number | null;
  /** Shadow comparisons recorded, and how many agreed. */
  comparisons: number;
  agreed: number;
  /** agreed ÷ comparisons; null without comparisons. */
  agreement: number | null;
}

export interface TaskFigures {
  taskType: string;
  before: SideFigures;
  after: SideFigures;
}

export interface RetrainReport {
  /** The change the report is centred on. */
  at: Date;
  /** The recorded model version at `at`, when the report is centred on one. */
  version: (ModelVersion & { previous: ModelVersion | null }) | null;
  before: { from: Date; to: Date };
  after: { from: Date; to: Date };
  tasks: TaskFigures[];
}

/** A local model as `model_versions` records it. */
export interface ModelVersion {
  localModel: string;
  version: string;
  digest: string;
}

export interface RetrainReportOptions {
  db: Db;
  databaseUrl: string;
  storage: ObjectStorage;
  cacheDir: string;
  duckdb: Omit<DuckDbSettings, 'tempDirectory'>;
  /** The change to centre on. @defaultValue the latest recorded in `model_versions` */
  at?: Date;
}

/** No model version change is recorded and no `--at` was given. */
export class NoModelVersionError extends Error {
  constructor() {
    super(
      'no local model version change is recorded yet (model_versions is empty); pass --at <time> to compare around a moment of your choice',
    );
    this.name = 'NoModelVersionError';
  }
}

/**
 * Per task type, the fallback share (generations hot and cold together, one DuckDB query) and
 * the shadow agreement rate (`shadow_comparisons`, a Postgres table) in the 7 days before and
 * the 7 days after a local model version change: whether a retrain paid.
 */
export async function retrainReport(options: RetrainReportOptions): Promise<RetrainReport> {
  const latest = options.at ? undefined : await latestModelVersion(options.db);
  if (!options.at && !latest) throw new NoModelVersionError();
  const at = options.at ?? new Date(latest?.first_seen_at ?? 0);
  const from = new Date(at.getTime() - REPORT_WINDOW_MS);
  const to = new Date(at.getTime() + REPORT_WINDOW_MS);
  const [fallbacks, shadows] = await Promise.all([
    fallbackCounts(options, at, from, to),
    shadowCounts(options.db, at, from, to),
  ]);
  const tasks = new Map<string, TaskFigures>();
  const side = (taskType: string, before: boolean) => {
    let task = tasks.get(taskType);
    if (!task) {
      task = { taskType, before: emptySide(), after: emptySide() };
      tasks.set(taskType, task);
    }
    return before ? task.before : task.after;
  };
  for (const row of fallbacks) {
    const figures = side(row.taskType, row.before);
    figures.answered = row.answered;
    figures.fallbacks = row.fallbacks;
  }
  for (const row of shadows) {
    const figures = side(row.taskType, row.before);
    figures.comparisons = row.comparisons;
    figures.agreed = row.agreed;
  }
  for (const task of tasks.values()) {
    for (const s of [task.before, task.after]) {
      s.fallbackShare = s.answered > 0 ? s.fallbacks / s.answered : null;
      s.agreement = s.comparisons > 0 ? s.agreed / s.comparisons : null;
    }
  }
  return {
    at,
    version: latest
      ? {
          localModel: latest.local_model,
          version: latest.model_version,
          digest: latest.digest,
          previous: latest.previous_model
            ? {
                localModel: latest.previous_model,
                version: latest.previous_version ?? '',
                digest: latest.previous_digest ?? '',
              }
            : null,
        }
      : null,
    before: { from, to: at },
    after: { from: at, to },
    tasks: [...tasks.values()].sort((a, b) => a.taskType.localeCompare(b.taskType)),
  };
}

const emptySide = (): SideFigures => ({
  answered: 0,
  fallbacks: 0,
  fallbackShare: null,
  comparisons: 0,
  agreed: 0,
  agreement: null,
});

interface Counted {
  taskType: string;
  before: boolean;
}

/** Model-answered generations and fallbacks per task type and side, hot and cold together. */
async function fallbackCounts(
  options: RetrainReportOptions,
  at: Date,
  from: Date,
  to: Date,
): Promise<(Counted & { answered: number; fallbacks: number })[]> {
  return withColdQuery(
    {
      databaseUrl: options.databaseUrl,
      storage: options.storage,
      cacheDir: options.cacheDir,
      duckdb: options.duckdb,
      from: utcDay(from),
      to: utcDay(to),
      tables: ['generations'],
    },
    async (session) => {
      const { rows } = await session.query(`
        SELECT task_type,
          created_at < '${at.toISOString()}'::TIMESTAMPTZ AS before,
          count(*) AS answered,
          count(*) FILTER (WHERE fallback_reason IS NOT NULL) AS fallbacks
        FROM generations
        WHERE status = 'completed' AND cache_layer IS NULL
          AND created_at >= '${from.toISOString()}'::TIMESTAMPTZ
          AND created_at < '${to.toISOString()}'::TIMESTAMPTZ
        GROUP BY ALL`);
      return rows.map((r) => ({
        taskType: String(r.task_type),
        before: Boolean(r.before),
        answered: Number(r.answered),
        fallbacks: Number(r.fallbacks),
      }));
    },
    () => [],
  );
}

/** Shadow comparisons and agreements per task type and side. */
async function shadowCounts(
  db: Db,
  at: Date,
  from: Date,
  to: Date,
): Promise<(Counted & { comparisons: number; agreed: number })[]> {
  const { rows } = await sql<{ task_type: string; before: boolean; n: string; agreed: string }>`
    SELECT task_type, created_at < ${at} AS before, count(*) AS n,
      count(*) FILTER (WHERE agreed) AS agreed
    FROM shadow_comparisons
    WHERE created_at >= ${from} AND created_at < ${to}
    GROUP BY 1, 2`.execute(db);
  return rows.map((r) => ({
    taskType: r.task_type,
    before: r.before,
    comparisons: Number(r.n),
    agreed: Number(r.agreed),
  }));
}
