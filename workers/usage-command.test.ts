import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDb } from '../shared/duckdb/duckdb.ts';
import { testEnv } from '../test/fixtures/config.ts';
import { recordAsk } from '../test/fixtures/generations.ts';
import { useTestDatabase } from '../test/fixtures/postgres.ts';
import { spawnNode } from '../test/fixtures/processes.ts';
import { randomPrefix } from '../test/fixtures/redis.ts';

const KEY = '00000000-0000-4000-8000-000000000000';

describe('lowburn usage rollup', () => {
  const database = useTestDatabase();
  let cacheDir: string;

  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(tmpdir(), 'lowburn-usage-cli-'));
    for (const [userId, hour] of [
      ['user-1', 1],
      ['user-1', 2],
      ['user-2', 3],
    ] as const) {
      await recordAsk(database.db, {
        at: new Date(`2026-11-20T0${hour}:00:00Z`),
        userId,
        apiKeyId: KEY,
        route: 'frontier',
        costUsd: 0.001,
      });
    }
  });
  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  const run = async (args: string[], command = 'rollup') => {
    const env = testEnv({
      DATABASE_URL: database.url,
      COLD_CACHE_DIR: cacheDir,
      QUEUE_PREFIX: randomPrefix(),
      COSTS: '{"modelBox":{"min":0}}',
    });
    const cli = spawnNode('lowburn usage', 'workers/cli.ts', ['usage', command, ...args], env);
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  };

  it('rebuilds every day of the range and prints a line per day', async () => {
    const { code, output } = await run(['--from', '2026-11-20', '--to', '2026-11-21']);
    expect(code).toBe(0);
    // $20 a month as a day's share (12/365) + $0.003 of tokens, over 2 users; no model box
    // (COSTS says min 0 and nothing ran locally).
    expect(output).toContain('2026-11-20  2 rows  2 active users  total $0.6605  CPAU $0.3303');
    expect(output).toContain('2026-11-21  0 rows  0 active users  total $0.6575  CPAU -');
    const days = await database.db
      .selectFrom('cost_daily')
      .select(['day', 'active_users', 'total_usd', 'cpau_usd', 'model_usd'])
      .orderBy('day')
      .execute();
    expect(days).toEqual([
      {
        day: '2026-11-20',
        active_users: 2,
        total_usd: '0.66053425',
        cpau_usd: '0.33026713',
        model_usd: '0.00000000',
      },
      {
        day: '2026-11-21',
        active_users: 0,
        total_usd: '0.65753425',
        cpau_usd: null,
        model_usd: '0.00000000',
      },
    ]);
  });

  it('refuses a range that ends before it starts', async () => {
    const { code, output } = await run(['--from', '2026-11-21', '--to', '2026-11-20']);
    expect(code).toBe(2);
    expect(output).toContain('--from 2026-11-21 is after --to 2026-11-20');
  });

  describe('lowburn usage export', () => {
    it('writes the range of usage_daily as zstd Parquet that DuckDB reads back', async () => {
      // The rollup test above rolled up 2026-11-20 (2 users) and 2026-11-21 (none).
      const out = path.join(cacheDir, 'usage.parquet');
      const { code, output } = await run(
        ['--from', '2026-11-20', '--to', '2026-11-21', '--out', out],
        'export',
      );
      expect(code, output).toBe(0);
      expect(output).toContain(`${out}  2 rows`);
      const duck = await openDuckDb({
        memoryLimit: '128MB',
        threads: 1,
        tempDirectory: path.join(cacheDir, 'duck'),
      });
      try {
        const read = await duck.connection.runAndReadAll(
          `SELECT day::VARCHAR AS day, user_id, api_key_id, generations, cost_usd::VARCHAR AS cost,
             generations_by_layer::VARCHAR AS layers
           FROM read_parquet('${out}') ORDER BY user_id`,
        );
        expect(read.getRowObjectsJson()).toEqual([
          {
            day: '2026-11-20',
            user_id: 'user-1',
            api_key_id: KEY,
            generations: '2',
            cost: '0.00200000',
            layers: '{"frontier": 2}',
          },
          {
            day: '2026-11-20',
            user_id: 'user-2',
            api_key_id: KEY,
            generations: '1',
            cost: '0.00100000',
            layers: '{"frontier": 1}',
          },
        ]);
        const codecs = await duck.connection.runAndReadAll(
          `SELECT DISTINCT compression FROM parquet_metadata('${out}')`,
        );
        expect(codecs.getRowObjectsJson()).toEqual([{ compression: 'ZSTD' }]);
      } finally {
        duck.close();
      }
    });

    it('refuses an output that is not a .parquet file', async () => {
      const { code, output } = await run(['--out', 'usage.csv'], 'export');
      expect(code).toBe(2);
      expect(output).toContain('--out must name a .parquet file (got "usage.csv")');
    });
  });
});
