// npm run bench:finetune — the fine-tune export end to end over BENCH_ROWS generation rows
// (1,000,000 by default): half on five days already exported to cold Parquet, half hot in
// Postgres (yesterday and today), 10 % of them fallback pairs (error, timeout, invalid), ~10 % of
// those asked again later (dedup), PII sprinkled in (e-mails, phones, cards, keys). In the same
// run, the naive reference the issue names: pg-cursor over the hot rows only, JSON.stringify per
// row, written to a file — and, as a figure only, the same with the fallback filter in its SQL.
//
// Each measured path runs in a child process of its own, so its peak RSS (getrusage maxrss) is
// its own, with MALLOC_ARENA_MAX=2 and --max-semi-space-size=8 as the image runs every process.
// The export runs as the image runs it: compiled to build/ first (`npm run build`, as the image's
// build stage does), then bench/finetune-export.mjs over build/ — no type stripper in the process.
// The naive reference is this file again with a mode (it is the issue's, measured as before).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { exportCold } from '../jobs/export-cold/export-cold.ts';
import { createDb } from '../shared/db/create-db.ts';
import { ensurePartitions, utcDay } from '../shared/db/partitions.ts';
import { createLogger } from '../shared/log/logger.ts';
import { FileStorage } from '../shared/storage/file-storage.ts';
import { startOllamaServer } from '../test/fixtures/model-servers.ts';
import { seedGenerations } from './finetune-seed.ts';
import { buildFleet } from './idle-worker.ts';
import { ADMIN_DATABASE_URL, benchDatabase, round } from './support.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const DAY = 86_400_000;

interface Measured {
  seconds: number;
  peakRssMb: number;
  examples?: number;
  rows?: number;
}

const peakRssMb = () => process.resourceUsage().maxRSS / 1024;

/** Child: the naive path — pg-cursor over the hot rows, JSON.stringify per row, to a file. */
async function runNaive(url: string, filtered: string): Promise<Measured> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lowburn-bench-naive-'));
  const out = createWriteStream(path.join(dir, 'naive.jsonl'));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const started = performance.now();
    const since = new Date(Date.now() - 10 * DAY).toISOString();
    const where =
      filtered === 'filtered' ? " AND fallback_reason IS NOT NULL AND status = 'completed'" : '';
    const cursor = client.query(
      new Cursor(`SELECT * FROM generations WHERE created_at >= $1${where}`, [since]),
    );
    let rows = 0;
    for (;;) {
      const batch = await cursor.read(10_000);
      if (batch.length === 0) break;
      for (const row of batch) {
        rows++;
        if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, 'drain');
      }
    }
    await cursor.close();
    out.end();
    await once(out, 'close');
    return { seconds: (performance.now() - started) / 1000, peakRssMb: peakRssMb(), rows };
  } finally {
    await client.end();
    await rm(dir, { recursive: true, force: true });
  }
}

function child(mode: string, ...args: string[]): Promise<Measured> {
  return new Promise((resolve, reject) => {
    // BENCH_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) to look inside a child.
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const script =
      mode === 'export'
        ? path.join(import.meta.dirname, 'finetune-export.mjs')
        : import.meta.filename;
    // --max-semi-space-size=8 as the image's ENTRYPOINT runs every process (see Dockerfile).
    const argv = [
      '--max-semi-space-size=8',
      ...nodeArgs,
      script,
      ...(mode === 'export' ? [] : [mode]),
      ...args,
    ];
    const proc = spawn(process.execPath, argv, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
    });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => {
      out += c;
    });
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${mode} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Measured);
    });
  });
}

const databaseName = () =>
  `lowburn_bench_finetune_${path.basename(process.cwd()).replace(/\W/g, '_')}`;

/** A fresh database with the rows: five cold days exported to `storageRoot`, two hot days. */
async function prepare(storageRoot: string): Promise<string> {
  const name = databaseName();
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
  const url = await benchDatabase(name);
  const log = createLogger({ level: 'silent' });
  const { db } = createDb({ url, log });
  try {
    const now = new Date();
    await ensurePartitions(db, {
      from: new Date(now.getTime() - 7 * DAY),
      days: 8,
      tables: ['generations'],
    });
    await seedGenerations(db, { rows: ROWS, now });
    await exportCold({
      db,
      databaseUrl: url,
      storage: new FileStorage({ root: storageRoot }),
      log,
      duckdb: { memoryLimit: '256MB', threads: 2 },
      workDir: path.join(storageRoot, '..', 'export-work'),
      rowsPerFile: 1_000_000,
      hotRetentionMs: DAY,
      dropGraceMs: 0,
      partitionDaysAhead: 1,
      tables: ['generations'],
    });
    const hot = await sql<{ n: string }>`SELECT count(*) AS n FROM generations`.execute(db);
    process.stderr.write(
      `  ${hot.rows[0]?.n} rows hot (${utcDay(now, -1)}, ${utcDay(now)}), the rest cold\n`,
    );
    await sql`VACUUM ANALYZE generations`.execute(db);
  } finally {
    await db.destroy();
  }
  return url;
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'naive') {
  console.log(JSON.stringify(await runNaive(args[0] ?? '', args[1] ?? '')));
} else {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  // BENCH_REUSE=<folder> runs again on the rows a BENCH_KEEP=1 run left (no seeding).
  const reuse = process.env.BENCH_REUSE;
  const root = reuse ?? (await mkdtemp(path.join(tmpdir(), 'lowburn-bench-finetune-objects-')));
  const ollama = await startOllamaServer();
  try {
    log('compiling build/ as the image does (npm run build)…');
    buildFleet();
    let url: string;
    if (reuse) url = await benchDatabase(databaseName());
    else {
      log(`seeding ${ROWS.toLocaleString('en')} generation rows and exporting the cold half…`);
      const started = performance.now();
      url = await prepare(path.join(root, 'objects'));
      log(`  seeded in ${round((performance.now() - started) / 1000, 1)} s`);
    }
    const naive = await child('naive', url, 'all');
    log(
      `  naive (pg-cursor, hot rows, JSON.stringify): ${round(naive.seconds)} s for ${naive.rows} rows, ${round(naive.peakRssMb)} MB peak`,
    );
    const filtered = await child('naive', url, 'filtered');
    log(
      `  naive with the fallback filter in SQL: ${round(filtered.seconds)} s for ${filtered.rows} rows`,
    );
    const exported = await child('export', url, path.join(root, 'objects'), ollama.url);
    log(
      `  export: ${round(exported.seconds)} s, ${exported.examples} examples, ${round(exported.peakRssMb)} MB peak`,
    );
    console.log(
      JSON.stringify({
        bench: 'finetune',
        rows: ROWS,
        examples: exported.examples,
        export_s: round(exported.seconds),
        naive_s: round(naive.seconds),
        speedup: round(naive.seconds / exported.seconds),
        peak_rss_mb: round(exported.peakRssMb, 0),
        naive_rows: naive.rows,
        naive_filtered_s: round(filtered.seconds),
        naive_peak_rss_mb: round(naive.peakRssMb, 0),
      }),
    );
  } finally {
    await ollama.close();
    if (process.env.BENCH_KEEP) log(`kept the rows and objects: BENCH_REUSE=${root}`);
    else if (!reuse) await rm(root, { recursive: true, force: true });
  }
}
