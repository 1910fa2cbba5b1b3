import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCold } from '../jobs/export-cold/export-cold.ts';
import { retrainReport } from '../shared/generation/retrain-report.ts';
import { recordModelVersion } from '../shared/inference/model-versions.ts';
import { FileStorage } from '../shared/storage/file-storage.ts';
import { testExportOptions } from '../test/fixtures/cold.ts';
import { testEnv } from '../test/fixtures/config.ts';
import { type SeedGeneration, seedGenerations } from '../test/fixtures/generations.ts';
import { useTestDatabase } from '../test/fixtures/postgres.ts';
import { spawnNode } from '../test/fixtures/processes.ts';

const AT = '2026-11-20T12:00:00.000Z';
let n = 0;
/** `count` model-answered rows at `at`: local answers, or fallbacks for `reason`. */
const answered = (
  count: number,
  at: string,
  taskType: string,
  reason?: 'error' | 'timeout' | 'invalid',
): SeedGeneration[] =>
  Array.from({ length: count }, () => ({
    id: `g-${++n}`,
    at,
    taskType,
    request: { prompt: `Prompt ${n}` },
    response: `Answer ${n}`,
    layer: null,
    route: reason ? 'frontier' : 'local',
    ...(reason && { fallbackReason: reason }),
  }));

describe('lowburn finetune report', () => {
  const database = useTestDatabase();
  let dir: string;
  let storage: FileStorage;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'lowburn-finetune-report-'));
    storage = new FileStorage({ root: path.join(dir, 'objects') });
    // Before the change, summary: 3 local + 2 fallbacks on a day moved to cold Parquet (a cache
    // hit and a failure beside them count for nothing), 2 local + 2 fallbacks + 1 local a minute
    // before the change in Postgres: 4 of 10. Classification: 0 of 4.
    await seedGenerations(database.db, [
      ...answered(3, '2026-11-15T08:00:00Z', 'summary'),
      ...answered(1, '2026-11-15T09:00:00Z', 'summary', 'timeout'),
      ...answered(1, '2026-11-15T10:00:00Z', 'summary', 'invalid'),
      {
        ...answered(1, '2026-11-15T11:00:00Z', 'summary')[0]!,
        layer: 'semantic',
        route: undefined,
      },
      { ...answered(1, '2026-11-15T12:00:00Z', 'summary', 'error')[0]!, status: 'failed' },
      // Out of the window: more than 7 days before.
      ...answered(3, '2026-11-13T11:00:00Z', 'summary', 'error'),
    ]);
    await exportCold(
      testExportOptions(database, storage, path.join(dir, 'work'), {
        tables: ['generations'],
        now: () => new Date('2026-11-17T00:30:00Z'),
      }),
    );
    await seedGenerations(database.db, [
      ...answered(2, '2026-11-19T08:00:00Z', 'summary'),
      ...answered(2, '2026-11-19T09:00:00Z', 'summary', 'error'),
      ...answered(1, '2026-11-20T11:59:00Z', 'summary'),
      ...answered(4, '2026-11-19T10:00:00Z', 'classification'),
      // After, summary: 1 of 5 (the fallback at the change itself counts after).
      ...answered(1, AT, 'summary', 'error'),
      ...answered(4, '2026-11-21T08:00:00Z', 'summary'),
      // After, classification: 1 of 2.
      ...answered(1, '2026-11-22T08:00:00Z', 'classification', 'timeout'),
      ...answered(1, '2026-11-22T09:00:00Z', 'classification'),
      // Out of the window: 7 days after and later.
      ...answered(2, '2026-11-27T12:00:00Z', 'summary', 'error'),
    ]);
    const shadow = (at: string, taskType: string, agreed: boolean) => ({
      generation_id: `s-${++n}`,
      created_at: at,
      task_type: taskType,
      local_model: 'llama3.2:3b',
      local_digest: null,
      frontier_model: 'gpt-4o-mini',
      agreed,
      similarity: null,
      frontier_answer: 'an answer',
    });
    await database.db
      .insertInto('shadow_comparisons')
      .values([
        // Summary: 2 of 4 agreed before, 4 of 5 after; classification: 1 of 1 after.
        ...[true, true, false, false].map((a) => shadow('2026-11-18T10:00:00Z', 'summary', a)),
        ...[true, true, true, true, false].map((a) => shadow('2026-11-23T10:00:00Z', 'summary', a)),
        shadow('2026-11-24T10:00:00Z', 'classification', true),
        shadow('2026-11-05T10:00:00Z', 'summary', false),
      ])
      .execute();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (args: string[]) => {
    const cli = spawnNode(
      'lowburn finetune report',
      'workers/cli.ts',
      ['finetune', 'report', ...args],
      testEnv({
        DATABASE_URL: database.url,
        STORAGE_URL: `file:${path.join(dir, 'objects')}`,
        COLD_CACHE_DIR: path.join(dir, 'cache'),
      }),
    );
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  };

  describe('before any model version change is recorded', () => {
    it('says to pass --at', async () => {
      const { code, output } = await run([]);
      expect(code).toBe(1);
      expect(output).toContain('no local model version change is recorded yet');
    });
  });

  describe('across a model version change', () => {
    beforeAll(async () => {
      const base = { localModel: 'llama3.2:3b', version: '1', digest: 'a'.repeat(64) };
      await recordModelVersion(database.db, base);
      await recordModelVersion(database.db, {
        ...base,
        localModel: 'support-ft',
        digest: 'b'.repeat(64),
      });
      for (const [model, at] of [
        ['llama3.2:3b', '2026-10-01T00:00:00Z'],
        ['support-ft', AT],
      ] as const) {
        await database.db
          .updateTable('model_versions')
          .set({ first_seen_at: at })
          .where('local_model', '=', model)
          .execute();
      }
    });

    it('gives the fallback share and the agreement before and after, hot and cold together', async () => {
      const report = await retrainReport({
        db: database.db,
        databaseUrl: database.url,
        storage,
        cacheDir: path.join(dir, 'cache'),
        duckdb: { memoryLimit: '128MB', threads: 1 },
      });
      // The 15th was moved to cold Parquet: its rows are no longer in Postgres.
      const hot = await database.db
        .selectFrom('generations')
        .select('id')
        .where('created_at', '<', new Date('2026-11-16T00:00:00Z'))
        .execute();
      expect(hot).toEqual([]);
      expect(report.at.toISOString()).toBe(AT);
      expect(report.version).toMatchObject({
        localModel: 'support-ft',
        previous: { localModel: 'llama3.2:3b', digest: 'a'.repeat(64) },
      });
      expect(report.tasks).toEqual([
        {
          taskType: 'classification',
          before: {
            answered: 4,
            fallbacks: 0,
            fallbackShare: 0,
            comparisons: 0,
            agreed: 0,
            agreement: null,
          },
          after: {
            answered: 2,
            fallbacks: 1,
            fallbackShare: 0.5,
            comparisons: 1,
            agreed: 1,
            agreement: 1,
          },
        },
        {
          taskType: 'summary',
          before: {
            answered: 10,
            fallbacks: 4,
            fallbackShare: 0.4,
            comparisons: 4,
            agreed: 2,
            agreement: 0.5,
          },
          after: {
            answered: 5,
            fallbacks: 1,
            fallbackShare: 0.2,
            comparisons: 5,
            agreed: 4,
            agreement: 0.8,
          },
        },
      ]);
    });

    it('prints a table, and JSON with --json', async () => {
      const table = await run([]);
      expect(table.code).toBe(0);
      const lines = table.output.trim().split('\n');
      expect(lines[0]).toContain('support-ft@1 bbbbbbbbbbbb first seen 2026-11-20T12:00:00.000Z');
      expect(lines[0]).toContain('before it: llama3.2:3b@1 aaaaaaaaaaaa');
      expect(lines[2]).toMatch(
        /^task\s+fallback before\s+fallback after\s+agreement before\s+agreement after$/,
      );
      expect(lines[3]).toMatch(
        /^classification\s+0\.0% \(0\/4\)\s+50\.0% \(1\/2\)\s+– \(0\/0\)\s+100\.0% \(1\/1\)$/,
      );
      expect(lines[4]).toMatch(
        /^summary\s+40\.0% \(4\/10\)\s+20\.0% \(1\/5\)\s+50\.0% \(2\/4\)\s+80\.0% \(4\/5\)$/,
      );

      const json = await run(['--json']);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.output)).toMatchObject({
        at: AT,
        tasks: [
          { taskType: 'classification', after: { fallbackShare: 0.5 } },
          { taskType: 'summary', before: { fallbackShare: 0.4 }, after: { agreement: 0.8 } },
        ],
      });
    });

    it('compares around another moment with --at', async () => {
      // A day and a bit earlier: the 3 fallbacks of the 13th come into the before window (10
      // answered, 5 fallbacks with the cold day's and the 19th's morning); the 19th's fallbacks
      // from 09:00 move after, the 27th's stay out (8 answered, 3 fallbacks).
      const { code, output } = await run(['--at', '2026-11-19T08:30:00Z', '--json']);
      expect(code).toBe(0);
      const report = JSON.parse(output);
      expect(report.version).toBeNull();
      expect(
        report.tasks.find((t: { taskType: string }) => t.taskType === 'summary'),
      ).toMatchObject({
        before: { answered: 10, fallbacks: 5, fallbackShare: 0.5 },
        after: { answered: 8, fallbacks: 3, fallbackShare: 3 / 8 },
      });
    });
  });
});
