import { withColdQuery } from '../../shared/duckdb/cold-query.ts';
import type { DuckDbSettings } from '../../shared/duckdb/duckdb.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';

/** One semantic hit as `generations` recorded it: the request asked and the answer served. */
export interface SemanticHit {
  id: string;
  taskType: string;
  /** The generate job's payload as stored (`unknown` until parsed: older code wrote it). */
  request: unknown;
  /** The cached answer the hit served. */
  response: string;
}

/** A day's semantic hits per task type, and the ones drawn to be asked again. */
export interface DaySample {
  hitsByTask: Map<string, number>;
  sample: SemanticHit[];
}

export interface SampleOptions {
  databaseUrl: string;
  storage: ObjectStorage;
  cacheDir: string;
  duckdb: Omit<DuckDbSettings, 'tempDirectory'>;
  /** The UTC day, `YYYY-MM-DD`. */
  day: string;
  /** Share of the hits drawn, rounded up. */
  rate: number;
  /** Most hits drawn. */
  max: number;
}

// Completed generations a semantic cache entry answered; a failed row served nothing.
const HITS = `FROM generations
  WHERE cache_layer = 'semantic' AND status = 'completed' AND response IS NOT NULL`;

/**
 * Draws `rate` of a day's semantic hits (rounded up, at most `max`) from hot and cold data
 * alike: the day may still be in Postgres, already in cold Parquet (the export moves a day once
 * it is `HOT_RETENTION` old), or both (late rows), and `openColdQuery` reads each row exactly
 * once wherever it is. The draw is the first rows by MD5 of their id — a uniform sample across
 * task types that is the same on every run, so a retried audit asks the same questions.
 */
export async function sampleSemanticHits(options: SampleOptions): Promise<DaySample> {
  const { day, rate, max } = options;
  return withColdQuery<DaySample>(
    {
      databaseUrl: options.databaseUrl,
      storage: options.storage,
      cacheDir: options.cacheDir,
      duckdb: options.duckdb,
      from: day,
      to: day,
      tables: ['generations'],
    },
    async (session) => {
      const counts = await session.query(
        `SELECT task_type, count(*) AS hits ${HITS} GROUP BY task_type ORDER BY task_type`,
      );
      const hitsByTask = new Map(counts.rows.map((r) => [String(r.task_type), Number(r.hits)]));
      const total = [...hitsByTask.values()].reduce((a, b) => a + b, 0);
      // Rounded to a millionth before rounding up: 300 × 0.01 is 3.0000000000000004 in floats.
      const draw = Math.min(max, Math.ceil(Math.round(total * rate * 1e6) / 1e6));
      if (draw === 0) return { hitsByTask, sample: [] };
      const drawn = await session.query(
        `SELECT id, task_type, request::VARCHAR AS request, response ${HITS}
         ORDER BY md5(id), id LIMIT ${draw}`,
      );
      const sample = drawn.rows.map((r) => ({
        id: String(r.id),
        taskType: String(r.task_type),
        request: parseJson(r.request),
        response: String(r.response),
      }));
      return { hitsByTask, sample };
    },
    // Not one generation that day, hot or cold: nothing was served, so nothing to audit.
    () => ({ hitsByTask: new Map(), sample: [] }),
  );
}

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}
