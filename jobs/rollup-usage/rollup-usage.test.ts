import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Insertable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { costsSchema } from '../../shared/config/costs-config.ts';
import type { Db } from '../../shared/db/create-db.ts';
import type { GenerationsTable } from '../../shared/db/database.ts';
import { ensurePartitions } from '../../shared/db/partitions.ts';
import { requestErasure } from '../../shared/erasures/ledger.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { FileStorage } from '../../shared/storage/file-storage.ts';
import { apiUsageKeys } from '../../shared/usage/api-usage.ts';
import { ERASED_USER } from '../../shared/usage/erased-usage.ts';
import { testExportOptions } from '../../test/fixtures/cold.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import { eraseUser } from '../erase-user/erase-user.ts';
import { exportCold } from '../export-cold/export-cold.ts';
import { type RollupDeps, rollupDay } from './rollup-day.ts';

const COLD = '2026-11-18';
const HOT = '2026-11-19';
const GPT = 'gpt-4o-mini';

/** The same day of usage on `day`: generations, telemetry, a webhook delivery. */
async function seedDay(db: Db, day: string, keyId: string): Promise<void> {
  await ensurePartitions(db, { from: new Date(`${day}T00:00:00Z`), days: 1 });
  const gen = (
    user: string,
    hour: number,
    how: { layer?: 'exact' | 'semantic'; route?: 'local' | 'frontier'; fallback?: 'timeout' },
    model: string | null,
    tokens: [number, number],
    costUsd: number,
  ) => ({
    id: randomUUID(),
    created_at: `${day}T${String(hour).padStart(2, '0')}:00:00Z`,
    api_key_id: keyId,
    user_id: user,
    task_type: 'summary',
    prompt: 'user: hi',
    prompt_hash: 'h',
    request: '{}',
    response: 'answer',
    status: 'completed' as const,
    cache_layer: how.layer ?? null,
    route: how.route ?? null,
    model,
    tokens_in: tokens[0],
    tokens_out: tokens[1],
    cost_usd: costUsd.toFixed(8),
    latency_ms: 5,
    fallback_reason: how.fallback ?? null,
  });
  await db
    .insertInto('generations')
    .values([
      gen('user-a', 1, { route: 'local' }, 'llama3.2:3b', [20, 30], 0),
      gen('user-a', 2, { route: 'local' }, 'llama3.2:3b', [20, 30], 0),
      gen('user-a', 3, { layer: 'exact' }, null, [0, 0], 0),
      // 100 in, 200 out at $0.15/$0.60 per million: $0.000135.
      gen('user-a', 4, { route: 'frontier', fallback: 'timeout' }, GPT, [100, 200], 0.000135),
      // 1,000 in, 1,000 out: $0.00075.
      gen('user-b', 5, { route: 'frontier' }, GPT, [1000, 1000], 0.00075),
      gen('user-b', 6, { layer: 'semantic' }, null, [0, 0], 0),
    ])
    .execute();
  const ping = (user: string | null, minute: number) => ({
    ping_id: randomUUID(),
    device_id: 'd',
    user_id: user,
    ts: `${day}T07:${String(minute).padStart(2, '0')}:00Z`,
    metric: 'm',
    value: 1,
    attrs: null,
  });
  await db
    .insertInto('telemetry')
    .values([ping('user-a', 1), ping('user-a', 2), ping('user-c', 3), ping(null, 4)])
    .execute();
}

describe('rollup-usage', () => {
  const database = useTestDatabase();
  // A Redis prefix per test: each test counts its API calls anew.
  const r = useRedis();
  let root: string;
  let cacheDir: string;
  let storage: FileStorage;
  let keyId: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lowburn-rollup-objects-'));
    cacheDir = await mkdtemp(path.join(tmpdir(), 'lowburn-rollup-cache-'));
    storage = new FileStorage({ root });
    keyId = (await createApiKey(database.db, { name: 'app', scopes: ['generate'] }, devKeyring()))
      .id;
    for (const day of [COLD, HOT]) await seedDay(database.db, day, keyId);
    await database.db
      .insertInto('webhook_deliveries')
      .values({
        id: 'msg_1',
        api_key_id: keyId,
        job_id: 'generate.1',
        event_type: 'generation.completed',
        url: 'https://example.com/hook',
        payload: '{}',
        created_at: `${HOT}T08:00:00Z`,
      })
      .execute();
    // The cold day goes to Parquet and leaves Postgres, as the nightly export does.
    await exportCold(
      testExportOptions(database, storage, path.join(cacheDir, 'work'), {
        tables: ['generations', 'telemetry'],
        now: () => new Date('2026-11-20T00:30:00Z'),
      }),
    );
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  });

  const deps = (): RollupDeps => ({
    db: database.db,
    redis: r.redis,
    prefix: r.prefix,
    costs: costsSchema.parse({}),
    databaseUrl: database.url,
    storage,
    cacheDir,
    duckdb: { memoryLimit: '128MB', threads: 1 },
  });
  const countApi = async (day: string) => {
    const key = apiUsageKeys.hour(r.prefix, new Date(`${day}T09:00:00Z`));
    await r.redis.hset(key, {
      [apiUsageKeys.field(keyId, 'user-a', 'POST /v1/generations')]: 5,
      [apiUsageKeys.field(keyId, undefined, 'GET /v1/jobs/:id')]: 3,
    });
  };
  const rows = (day: string) =>
    database.db
      .selectFrom('usage_daily')
      .selectAll()
      .where('day', '=', day)
      .orderBy(['user_id', 'api_key_id'])
      .execute()
      .then((all) => all.map(({ updated_at: _, day: __, ...row }) => row));
  const cost = (day: string) =>
    database.db
      .selectFrom('cost_daily')
      .selectAll()
      .where('day', '=', day)
      .executeTakeFirstOrThrow()
      .then(({ updated_at: _, day: __, ...row }) => row);

  it('rolls up a hot day to the hand-computed figures and CPAU', async () => {
    await countApi(HOT);
    const result = await rollupDay(deps(), HOT);
    expect(result.apiCallsFrom).toBe('redis');
    // user-a, user-b (generations), user-c (telemetry only); '' rows are not users.
    expect(result.activeUsers).toBe(3);
    const byUser = Object.fromEntries(
      (await rows(HOT)).map((row) => [`${row.user_id}|${row.api_key_id}`, row]),
    );
    expect(Object.keys(byUser).sort()).toEqual(
      ['|', `|${keyId}`, 'user-a|', `user-a|${keyId}`, `user-b|${keyId}`, 'user-c|'].sort(),
    );
    expect(byUser[`user-a|${keyId}`]).toMatchObject({
      api_calls: '5',
      api_calls_by_route: { 'POST /v1/generations': 5 },
      generations: '4',
      generations_by_layer: { local: 2, exact: 1, 'fallback:timeout': 1 },
      cache_hits: { exact: 1 },
      local_calls: '2',
      frontier_calls: '1',
      tokens_in: '140',
      tokens_out: '260',
      cost_usd: '0.00013500',
      tokens_by_model: {
        'llama3.2:3b': { in: 40, out: 60, usd: 0 },
        [GPT]: { in: 100, out: 200, usd: 0.000135 },
      },
      rows_written: { telemetry: 0, generations: 4, ledgers: 0 },
      db_writes: '4',
    });
    expect(byUser['user-a|']).toMatchObject({ telemetry_pings: '2', db_writes: '2' });
    expect(byUser[`|${keyId}`]).toMatchObject({
      api_calls: '3',
      webhook_deliveries: '1',
      rows_written: { telemetry: 0, generations: 0, ledgers: 1 },
    });
    expect(byUser['|']).toMatchObject({ telemetry_pings: '1' });

    // By hand: the fleet box $20 and one model box $26 a month, as a day's share (12/365), plus
    // the tokens $0.000135 + $0.00075; storage is under the free 10 GB and nothing was written
    // to it that day. (20 + 26) × 12 / 365 = 1.51232877; + 0.000885 = 1.51321377; ÷ 3 users.
    const day = await cost(HOT);
    expect(day).toMatchObject({
      active_users: 3,
      token_usd: '0.00088500',
      fleet_usd: '0.65753425',
      model_usd: '0.85479452',
      storage_usd: '0.00000000',
      requests_usd: '0.00000000',
      total_usd: '1.51321377',
      model_boxes: 1,
    });
    expect(Number(day.cpau_usd)).toBeCloseTo(1.51321377 / 3, 8);
    expect(Number(day.storage_bytes)).toBeGreaterThan(0);
    // The day's totals the dashboard draws: 6 generations, 4 pings, 1 delivery (a ledger row).
    expect(day.usage).toEqual({
      apiCalls: 8,
      generations: 6,
      tokensIn: 1140,
      tokensOut: 1260,
      dbWrites: 11,
      telemetryPings: 4,
      webhookDeliveries: 1,
      byLayer: { local: 2, exact: 1, 'fallback:timeout': 1, frontier: 1, semantic: 1 },
      byRoute: { 'POST /v1/generations': 5, 'GET /v1/jobs/:id': 3 },
      byModel: {
        'llama3.2:3b': { in: 40, out: 60, usd: 0 },
        [GPT]: { in: 1100, out: 1200, usd: 0.000885 },
      },
    });
  });

  it('gives identical rows when rerun', async () => {
    const before = { rows: await rows(HOT), cost: await cost(HOT) };
    await countApi(HOT); // each test has its own Redis prefix
    expect((await rollupDay(deps(), HOT)).apiCallsFrom).toBe('redis');
    expect({ rows: await rows(HOT), cost: await cost(HOT) }).toEqual(before);
  });

  it('rolls up a cold day as it rolls up the hot one', async () => {
    await countApi(COLD);
    expect(
      await database.db
        .selectFrom('generations')
        .select('id')
        .where('created_at', '<', new Date(`${HOT}T00:00:00Z`))
        .execute(),
    ).toEqual([]);
    const result = await rollupDay(deps(), COLD);
    expect(result.activeUsers).toBe(3);
    // The same usage but the webhook delivery (seeded on the hot day only).
    const hot = (await rows(HOT)).map((row) =>
      row.user_id === '' && row.api_key_id === keyId
        ? {
            ...row,
            webhook_deliveries: '0',
            db_writes: '0',
            rows_written: { ...row.rows_written, ledgers: 0 },
          }
        : row,
    );
    expect(await rows(COLD)).toEqual(hot);
    expect((await cost(COLD)).cpau_usd).toBe((await cost(HOT)).cpau_usd);
  });

  it('keeps the API counts it stored once Redis no longer holds the day', async () => {
    const before = await rows(COLD);
    await r.redis.del(apiUsageKeys.hour(r.prefix, new Date(`${COLD}T09:00:00Z`)));
    const result = await rollupDay(deps(), COLD);
    expect(result.apiCallsFrom).toBe('stored');
    expect(await rows(COLD)).toEqual(before);
  });

  it('counts a generation the budget kept from the frontier as fallback:budget, not a frontier call', async () => {
    const day = '2026-11-21';
    await ensurePartitions(database.db, { from: new Date(`${day}T00:00:00Z`), days: 1 });
    type Fields = Pick<Insertable<GenerationsTable>, 'status'> &
      Partial<Insertable<GenerationsTable>>;
    const row = (n: number, fields: Fields): Insertable<GenerationsTable> => ({
      id: randomUUID(),
      created_at: `${day}T0${n}:00:00Z`,
      api_key_id: keyId,
      user_id: 'spender',
      task_type: 'summary',
      prompt: 'user: hi',
      prompt_hash: 'h',
      request: '{}',
      latency_ms: 5,
      ...fields,
    });
    await database.db
      .insertInto('generations')
      .values([
        row(1, {
          status: 'completed',
          response: 'answer',
          route: 'frontier',
          model: GPT,
          tokens_in: 100,
          tokens_out: 200,
          cost_usd: '0.00013500',
          fallback_reason: 'error',
        }),
        row(2, {
          status: 'failed',
          error: 'local model: model crashed; the frontier fallback was not used because …',
          fallback_reason: 'budget',
        }),
        row(3, { status: 'failed', error: 'local model: model crashed' }),
      ])
      .execute();
    await rollupDay(deps(), day);
    const [spender] = (await rows(day)).filter((r) => r.user_id === 'spender');
    expect(spender).toMatchObject({
      generations: '3',
      generations_by_layer: { 'fallback:error': 1, 'fallback:budget': 1, failed: 1 },
      frontier_calls: '1',
      cost_usd: '0.00013500',
    });
  });
  it('keeps every day total and CPAU after an erasure folds a user, through a rerun too', async () => {
    const secretsKey = randomBytes(32);
    for (const day of [COLD, HOT]) {
      await countApi(day);
      await rollupDay(deps(), day);
    }
    const before = { cold: await cost(COLD), hot: await cost(HOT) };
    const { id } = await requestErasure(database.db, { userId: 'user-a', secretsKey });
    const log = createLogger({ level: 'silent' });
    await eraseUser({ db: database.db, redis: r.redis, prefix: r.prefix, secretsKey, log }, id);

    for (const day of [COLD, HOT]) {
      const users = (await rows(day)).map((row) => row.user_id);
      expect(users).not.toContain('user-a');
      expect(users).toContain(ERASED_USER);
    }
    // The fold moved rows; the day's cost row is the rollup's and unchanged.
    expect({ cold: await cost(COLD), hot: await cost(HOT) }).toEqual(before);
    // A rebuild still finds user-a's facts (in the cold files until the cold side runs, and in
    // Redis's API counts): they are left to the aggregate, so nothing counts twice.
    for (const day of [COLD, HOT]) {
      await countApi(day);
      await rollupDay(deps(), day);
      expect((await rows(day)).map((row) => row.user_id)).not.toContain('user-a');
    }
    expect({ cold: await cost(COLD), hot: await cost(HOT) }).toEqual(before);
  });
});
