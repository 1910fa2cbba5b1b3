import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pkg from '../../package.json' with { type: 'json' };
import { buildUserIndex } from '../../shared/cold/user-index.ts';
import type { Config } from '../../shared/config/load-config.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { type ColdQuery, NoDataError, openColdQuery } from '../../shared/duckdb/cold-query.ts';
import { erasureHash } from '../../shared/erasures/erasure-hash.ts';
import { type FinetuneManifest, userHashKey } from '../../shared/finetune/manifest.ts';
import { modelServersFor } from '../../shared/inference/model-servers.ts';
import type { Logger } from '../../shared/log/logger.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';
import { type Finalized, finalize } from './finalize.ts';
import { readBaseModel, renderModelfile } from './modelfile.ts';
import { publish } from './publish.ts';
import type { FinetuneRequest } from './request.ts';
import { createScrubber } from './scrub.ts';
import {
  countsSql,
  dedupedSql,
  hotWhere,
  keysSql,
  type SourceRow,
  sourceRows,
  sourceViewSql,
  winnersCountSql,
  winnersSql,
  winnerUsersSql,
} from './source.ts';
import { type Staged, stageExamples } from './stage.ts';
import { billingEstimate } from './tokens.ts';

/** Where an export is, for a progress bar or the job's progress. */
export type ExportProgress =
  | { stage: 'fetch'; done: number; total: number }
  | { stage: 'rows'; done: number; total: number }
  | { stage: 'verify' | 'upload' };

export interface ExportFinetuneOptions {
  config: Pick<Config, 'finetune' | 'cold' | 'database' | 'inference' | 'secrets'>;
  storage: ObjectStorage;
  log: Logger;
  request: FinetuneRequest;
  signal?: AbortSignal;
  onProgress?: (progress: ExportProgress) => void;
  /** Called after each step that leaves something behind (tests crash here). */
  afterStep?: (step: string) => void;
}

/** The columns of `generations` the source view reads (the prompt, metadata and error stay). */
const SOURCE_COLUMNS = [
  'id',
  'created_at',
  'task_type',
  'prompt_hash',
  'user_id',
  'request',
  'response',
  'status',
  'cache_layer',
  'route',
  'fallback_reason',
];

/** What the source query found, before any row was cleaned. */
interface Read {
  read: number;
  readByKind: Record<string, number>;
  deduped: number;
  hotRows: number;
  coldFiles: number;
  /** The users of the rows the dedup kept (for the set's user index). */
  users: string[];
}

/**
 * The fine-tune export end to end: the base model's Modelfile parts from Ollama (first, so an
 * unreachable Ollama fails in a second); the source rows over hot Postgres and cold Parquet in
 * one DuckDB session, deduped there by conversation (newest kept); in one pass, each row
 * cleaned, checked as the cookbook does and staged into the train or validation file its prompt
 * key hashes to (of prompts identical once scrubbed, the newest kept); the staged files then
 * finalised — superseded lines left out, zero overlap verified — and only then published under
 * `finetune/<task>/<day>/` with the manifest last. Refuses (FinetuneRefusedError) with nothing
 * uploaded when a check fails.
 */
export async function exportFinetune(options: ExportFinetuneOptions): Promise<FinetuneManifest> {
  const { config, request } = options;
  const base = await modelServersFor(config.inference).run((url) =>
    readBaseModel(url, config.inference.localModel),
  );
  await mkdir(config.cold.workDir, { recursive: true });
  await removeStaleStaging(config.cold.workDir);
  const dir = await mkdtemp(join(config.cold.workDir, 'finetune-'));
  try {
    const { read, examples } = await readAndStage(options, dir);
    options.onProgress?.({ stage: 'verify' });
    const staged = await finalize(examples, { dir });
    staged.checks.assertWritable(staged.train.lines);
    options.afterStep?.('staged');

    options.onProgress?.({ stage: 'upload' });
    const modelfile = renderModelfile(base, { version: pkg.version, prefix: request.prefix });
    const manifest = await publish(
      options.storage,
      request.prefix,
      [
        { name: 'train.jsonl', body: { file: staged.train.path }, ...staged.train },
        { name: 'validation.jsonl', body: { file: staged.validation.path }, ...staged.validation },
        {
          name: 'Modelfile',
          body: modelfile,
          bytes: Buffer.byteLength(modelfile),
          sha256: createHash('sha256').update(modelfile).digest('hex'),
        },
      ],
      (files) => manifestOf(options, { base, read, examples, staged }, files),
      options.afterStep,
      request.rebuilt !== undefined,
    );
    options.log.info(
      { prefix: request.prefix, ...manifest.counts.split, read: read.read },
      'fine-tune export published',
    );
    return manifest;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A staging folder older than this belongs to a run that was killed (the job times out at 2 h). */
const STALE_STAGING_MS = 6 * 3_600_000;

/** Removes what killed runs left in the work folder (a kill -9 skips their own clean-up). */
async function removeStaleStaging(workDir: string): Promise<void> {
  for (const name of await readdir(workDir)) {
    if (!name.startsWith('finetune-')) continue;
    const path = join(workDir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > STALE_STAGING_MS) {
      await rm(path, { recursive: true, force: true });
    }
  }
}

/** One DuckDB session: the source view, its counts, and the deduped rows staged to `dir`. */
async function readAndStage(
  options: ExportFinetuneOptions,
  dir: string,
): Promise<{ read: Read; examples: Staged }> {
  const { config, request } = options;
  let session: ColdQuery | undefined;
  try {
    session = await openColdQuery({
      databaseUrl: config.database.url,
      storage: options.storage,
      cacheDir: config.cold.cacheDir,
      // DUCKDB_THREADS while loading, counting and deduping (JavaScript waits then); one thread
      // once the rows stream (below).
      duckdb: config.cold.duckdb,
      from: utcDay(request.since),
      to: utcDay(new Date(request.until.getTime() - 1)),
      tables: ['generations'],
      hotWhere: { generations: hotWhere(request) },
      hotColumns: { generations: SOURCE_COLUMNS },
      // Users with an erasure recorded, left out of cold rows (hot rows: by hotWhere).
      plainTables: [
        { name: 'open_erasure_users' },
        ...(request.include.includes('local-validated') ? [{ name: 'shadow_comparisons' }] : []),
      ],
      onFetch: (p) => options.onProgress?.({ stage: 'fetch', done: p.done, total: p.total }),
    });
  } catch (error) {
    if (!(error instanceof NoDataError)) throw error;
  }
  try {
    const read: Read = {
      read: 0,
      readByKind: {},
      deduped: 0,
      hotRows: 0,
      coldFiles: 0,
      users: [],
    };
    let rows: AsyncIterable<Iterable<SourceRow>> = (async function* () {})();
    if (session) {
      const [source] = session.sources;
      read.hotRows = source?.hotRows ?? 0;
      read.coldFiles = source?.coldFiles ?? 0;
      await session.query(sourceViewSql(request));
      await session.query(keysSql);
      for (const row of (await session.query(countsSql)).rows) {
        read.readByKind[String(row.kind)] = Number(row.n);
        read.read += Number(row.n);
      }
      await session.query(winnersSql);
      read.deduped = Number((await session.query(winnersCountSql)).rows[0]?.n ?? 0);
      read.users = (await session.query(winnerUsersSql)).rows.map((r) => String(r.user_id));
      // One DuckDB thread while streaming: cleaning the rows in JavaScript is the slow side and
      // takes the other core; a second thread would only hold a second row group of wide rows
      // in memory.
      await session.query('SET threads = 1');
      const chunks = session.chunks(dedupedSql);
      rows = (async function* () {
        for await (const chunk of chunks) yield sourceRows(chunk);
      })();
    }
    options.onProgress?.({ stage: 'rows', done: 0, total: read.deduped });
    const examples = await stageExamples(rows, {
      dir,
      format: request.format,
      scrubber: createScrubber(config.finetune.scrubPatterns),
      maxTokens: config.finetune.maxTokens,
      signal: options.signal,
      onRows: (done) => options.onProgress?.({ stage: 'rows', done, total: read.deduped }),
    });
    return { read, examples };
  } finally {
    await session?.close();
  }
}

function manifestOf(
  options: ExportFinetuneOptions,
  run: {
    base: Awaited<ReturnType<typeof readBaseModel>>;
    read: Read;
    examples: Staged;
    staged: Finalized;
  },
  files: FinetuneManifest['files'],
): FinetuneManifest {
  const { request, config } = options;
  const { base, read, examples, staged } = run;
  const train = staged.trainTokens.summary();
  return {
    format: 'lowburn.finetune.v1',
    lineFormat: request.format,
    source: {
      task: request.task ?? null,
      since: request.since.toISOString(),
      until: request.until.toISOString(),
      include: request.include,
      hotRows: read.hotRows,
      coldFiles: read.coldFiles,
    },
    counts: {
      read: read.read,
      readByKind: read.readByKind,
      deduped: read.deduped,
      scrubbed: examples.scrubbed,
      scrubbedExamples: examples.scrubbedExamples,
      dropped: {
        unreadableRequest: examples.unreadableRequest,
        secret: examples.secret,
        duplicateAfterScrub: staged.duplicateAfterScrub,
        overMaxTokens: examples.overMaxTokens,
      },
      written: staged.train.lines + staged.validation.lines,
      split: { train: staged.train.lines, validation: staged.validation.lines },
      writtenByKind: staged.writtenByKind,
    },
    split: {
      validationPercent: 10,
      by: 'sha256 of the scrubbed prompt messages (role and whitespace-normalised content)',
      overlap: 0,
    },
    tokens: {
      tokenizer:
        "estimate: characters / 4 (OpenAI's rule of thumb), as the cookbook counts a chat; examples whose UTF-8 size could exceed maxTokens are counted exactly with o200k_base (gpt-tokenizer)",
      exactlyCounted: examples.exactlyCounted,
      maxTokens: config.finetune.maxTokens,
      train: {
        total: staged.trainTokens.tokens,
        perExample: train.totalTokensPerExample,
        assistantPerExample: train.assistantTokensPerExample,
        messagesPerExample: train.messagesPerExample,
      },
      validation: {
        total: staged.validationTokens.tokens,
        perExample: staged.validationTokens.summary().totalTokensPerExample,
      },
      billing: billingEstimate(staged.train.lines, staged.trainTokens.tokens),
    },
    localModel: {
      name: base.name,
      version: config.inference.localModelVersion,
      digest: base.digest ?? null,
    },
    files,
    exportedAt: new Date().toISOString(),
    lowburnVersion: pkg.version,
    ...usersIndex(read.users, config.secrets.key, options.log),
    ...(request.rebuilt && { rebuilt: request.rebuilt }),
  };
}

/**
 * The set's user index (see `FinetuneManifest.users`), over keyed hashes: none without
 * `SECRETS_KEY`, and then an erasure removes the set whoever it erases.
 */
function usersIndex(
  users: readonly string[],
  secretsKey: Buffer | undefined,
  log: Logger,
): Pick<FinetuneManifest, 'users'> {
  if (!secretsKey) {
    log.warn('no SECRETS_KEY: the set gets no user index, so any erasure will remove it');
    return {};
  }
  return { users: buildUserIndex(users.map((u) => userHashKey(erasureHash(u, secretsKey)))) };
}
