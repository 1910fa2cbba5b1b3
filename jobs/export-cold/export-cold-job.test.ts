import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../shared/cold/layout.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { FileStorage } from '../../shared/storage/file-storage.ts';
import {
  coldRows,
  coldTelemetrySelect,
  parseAttrs,
  seedTelemetry,
  telemetryInPostgres,
  testExportOptions,
} from '../../test/fixtures/cold.ts';
import { testConfig, testEnv } from '../../test/fixtures/config.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { spawnNode } from '../../test/fixtures/processes.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { type RunningWorker, startWorker } from '../../workers/worker.ts';
import { exportCold } from './export-cold.ts';
import { exportColdJob } from './index.ts';

const log = createLogger({ level: 'silent' });

describe('export-cold as a job and across a real crash', () => {
  const database = useTestDatabase();
  const r = useRedis();
  let root: string;
  let workDir: string;
  let storage: FileStorage;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lowburn-export-job-'));
    workDir = await mkdtemp(path.join(tmpdir(), 'lowburn-export-work-'));
    storage = new FileStorage({ root });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  });
  const env = () =>
    testEnv({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: r.prefix,
      STORAGE_URL: `file:${root}`,
      EXPORT_WORK_DIR: workDir,
    });

  it('runs through a worker, and refuses a hot day for good', async () => {
    const day = utcDay(new Date(), -3);
    await seedTelemetry(database.db, day, 120);
    const config = testConfig(env());
    const queues = new Queues({ connection: r.redis, prefix: r.prefix });
    const eventsConnection = r.redis.duplicate();
    const events = new QueueEvents('export-cold', {
      connection: eventsConnection,
      prefix: r.prefix,
    });
    let worker: RunningWorker | undefined;
    try {
      await events.waitUntilReady();
      worker = await startWorker({ config, catalog: { 'export-cold': exportColdJob }, log });
      const job = await queues.add(exportColdJob, { day });
      expect(await job.waitUntilFinished(events, 20_000)).toMatchObject({
        ran: true,
        days: [
          { table: 'telemetry', day, state: 'dropped', rows: 120, files: 1 },
          // A day asked for by name is exported for every table, an empty one too.
          { table: 'generations', day, state: 'dropped', rows: 0, files: 0 },
        ],
      });
      expect(await readManifest(storage, 'telemetry', day)).toMatchObject({ rows: 120 });

      const hot = await queues.add(exportColdJob, { day: utcDay(new Date()) });
      await expect(hot.waitUntilFinished(events, 20_000)).rejects.toThrow(/is still hot/);
      const failed = await queues.get(exportColdJob).getJob(hot.id ?? '');
      expect(failed?.attemptsMade).toBe(1);
    } finally {
      await worker?.stop();
      await queues.close();
      await events.close();
      await eventsConnection.quit();
    }
  });

  it.each(['uploaded', 'dropping'])(
    'loses and duplicates nothing when the process is killed after "%s"',
    async (step) => {
      const day = step === 'uploaded' ? '2026-08-01' : '2026-08-02';
      await seedTelemetry(database.db, day, 700);
      const before = await telemetryInPostgres(database.db, day);
      const dying = spawnNode('export-then-die', 'test/fixtures/export-then-die.ts', [], {
        ...env(),
        DAY: day,
        DIE_AT: step,
      });
      expect(await dying.exited).toMatchObject({ signal: 'SIGKILL' });
      expect(dying.output()).toContain(`after ${step}; killing myself`);

      const rerun = await exportCold(testExportOptions(database, storage, workDir, { day }));
      expect(rerun.days).toEqual([expect.objectContaining({ state: 'dropped', rows: 700 })]);
      const cold = await coldRows(storage, 'telemetry', day, coldTelemetrySelect, 'ping_id');
      expect(parseAttrs(cold.rows)).toEqual(before);
      expect(await telemetryInPostgres(database.db, day)).toEqual([]);
    },
  );
});
