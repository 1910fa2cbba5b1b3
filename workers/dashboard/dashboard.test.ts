import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobs } from '../../jobs/index.ts';
import { costsSchema } from '../../shared/config/costs-config.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { addSpend } from '../../shared/usage/budgets.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { GPT, seedRollup } from '../../test/fixtures/usage-rollup.ts';
import { startBoard } from '../board.ts';
import { loadFacts } from './load.ts';
import { buildTables } from './tables.ts';

const log = createLogger({ level: 'silent' });
const TODAY = utcDay(new Date());
const YESTERDAY = utcDay(new Date(), -1);
const auth = {
  authorization: `Basic ${Buffer.from('admin:correct-horse-battery').toString('base64')}`,
};

describe('the dashboard', () => {
  const database = useTestDatabase();
  const r = useRedis();
  const queues: Queue[] = [];
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await seedRollup(database.db, { today: TODAY, days: 30, users: 30 });
  });
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });
  afterAll(async () => {
    for (const q of queues) await q.close();
  });

  const facts = (queue?: Queue) =>
    loadFacts({
      db: database.db,
      redis: r.redis,
      prefix: r.prefix,
      queues: new Map(queue ? [[queue.name, queue]] : []),
      costs: costsSchema.parse({}),
      cpauTargetUsd: 0.05,
      budgetsOn: true,
      telemetryBufferCap: 1000,
    });

  it("reads yesterday's cost, CPAU and the 30-day trend from cost_daily", async () => {
    const f = await facts();
    expect(f.days).toHaveLength(30);
    expect(f.days.at(-1)?.day).toBe(YESTERDAY);
    const y = f.days.at(-1);
    // 31 users: tokens $0.00465 (user-k: k × $0.00001, k = 1…30) + the whale's $0.005; the
    // fleet box's day ($20 × 12/365 = 0.65753425) and one model box ($26: 0.85479452).
    expect(y?.components.tokens).toBe(0.00965);
    expect(y?.total).toBe(1.52197877);
    expect(y?.cpau).toBe(0.04909609); // 1.52197877 / 31
    expect(y?.usage.byModel[GPT]?.usd).toBe(0.00965);
  });

  it("ranks yesterday's top 20 users by cost, summed over their API keys", async () => {
    const f = await facts();
    expect(f.topUsers).toHaveLength(20);
    expect(f.topUsers[0]).toEqual({
      userId: 'user-whale',
      costUsd: 0.005,
      apiCalls: 2,
      generations: 2,
      tokens: 6000,
    });
    expect(f.topUsers[1]).toEqual({
      userId: 'user-30',
      costUsd: 0.0003,
      apiCalls: 30,
      generations: 61,
      tokens: 900,
    });
    expect(f.topUsers.at(-1)?.userId).toBe('user-12');
  });

  it("shows each top user's budget state from the crossings the worker recorded", async () => {
    // The worker's own bookkeeping: the whale went past both budgets, user-30 past the soft one.
    const at = new Date(`${YESTERDAY}T12:00:00Z`);
    const budgets = { softUsd: 0.001, hardUsd: 0.004 };
    const spend = (userId: string, usd: number) =>
      addSpend(r.redis, r.prefix, 'UTC', { apiKeyId: 'key-a', userId, usd, at, budgets });
    expect((await spend('user-whale', 0.005)).crossed).toEqual(['soft', 'hard']);
    expect((await spend('user-30', 0.002)).crossed).toEqual(['soft']);
    const f = await facts();
    expect(f.budgetStates.get('user-whale')).toBe('hard');
    expect(f.budgetStates.get('user-30')).toBe('soft');
    expect(f.budgetStates.get('user-12')).toBe('within');
    const table = buildTables(f)['top-users'];
    expect(table.rows[0]?.at(-1)).toBe('past hard budget');
    expect(table.rows[1]?.at(-1)).toBe('past soft budget');
    expect(table.rows.at(-1)?.at(-1)).toBe('within');
  });

  it('computes per-user figures and shares to the hand-computed values', async () => {
    const tables = buildTables(await facts());
    const perUser = tables['per-user'].rows.at(-1);
    // tokens (30 × 465 + 6,000) / 31; writes (930 + 60 + 2) / 31; calls (465 + 2) / 31.
    expect(perUser).toEqual([YESTERDAY, 31, 643.55, 32, 15.06]);
    const cache = tables.cache.rows.at(-1);
    // 962 generations: 465 exact, 465 local, 30 timeout fallbacks, 2 frontier.
    expect(cache).toEqual([YESTERDAY, 962, 0, 0.4834, 0, 0, 0.4834, 0.4834, 0.0312, null, null]);
    const cost = tables.cost;
    expect(cost.columns.at(-1)?.key).toBe(`tokens_usd:${GPT}`);
    expect(cost.rows.at(-1)?.slice(0, 4)).toEqual([YESTERDAY, 31, 1.52197877, 0.04909609]);
  });

  it('projects cold storage to its free tier at the last 7 days of growth', async () => {
    const f = await facts();
    const storage = f.headroom.find((h) => h.resource.startsWith('Object storage'));
    // 100 MB a day, 3 GB yesterday, 10 GB free: 70 more days.
    expect(storage).toMatchObject({ used: 3e9, limit: 1e10, perDay: 1e8 });
    expect(storage?.reached).toBe(utcDay(new Date(`${TODAY}T00:00:00Z`), 70));
  });

  it('reads a day of top users again once the rollup has rewritten it, not before', async () => {
    const deps = {
      db: database.db,
      redis: r.redis,
      prefix: r.prefix,
      queues: new Map(),
      costs: costsSchema.parse({}),
      cpauTargetUsd: 0.05,
      budgetsOn: true,
      telemetryBufferCap: 1000,
    };
    expect((await loadFacts(deps)).topUsers[1]?.userId).toBe('user-30');
    const raise = () =>
      database.db
        .updateTable('usage_daily')
        .set({ cost_usd: '0.001' })
        .where('day', '=', YESTERDAY)
        .where('user_id', '=', 'user-1')
        .execute();
    await raise();
    // The rows changed behind the rollup's back: the day's stamp did not, so neither does the
    // table (the rollup is the only writer of usage_daily).
    expect((await loadFacts(deps)).topUsers[1]?.userId).toBe('user-30');
    // As the rollup does in the transaction that rewrites the day.
    await database.db
      .updateTable('cost_daily')
      .set({ updated_at: new Date() })
      .where('day', '=', YESTERDAY)
      .execute();
    expect((await loadFacts(deps)).topUsers[1]).toMatchObject({ userId: 'user-1', costUsd: 0.001 });
    await database.db
      .updateTable('usage_daily')
      .set({ cost_usd: '0.00001' })
      .where('day', '=', YESTERDAY)
      .where('user_id', '=', 'user-1')
      .execute();
  });

  it("reports a queue's waiting jobs and how long the oldest has waited", async () => {
    const queue = new Queue('echo', { connection: r.redis, prefix: r.prefix });
    queues.push(queue);
    await queue.add('echo', {}, { timestamp: Date.now() - 90_000 });
    await queue.add('echo', {});
    const f = await facts(queue);
    expect(f.queues).toHaveLength(1);
    expect(f.queues[0]).toMatchObject({ queue: 'echo', waiting: 2, failed: 0 });
    expect(f.queues[0]?.lagS).toBeGreaterThanOrEqual(90);
  });

  async function board() {
    const config = testConfig({
      QUEUE_PREFIX: r.prefix,
      DATABASE_URL: database.url,
      BOARD_PASSWORD: 'correct-horse-battery',
    });
    const started = await startBoard({ config, catalog: jobs, log, port: 0 });
    stop = started.stop;
    return `http://127.0.0.1:${started.port}`;
  }

  it('serves the page, its scripts and every table as CSV behind the login', async () => {
    const url = await board();
    expect((await fetch(`${url}/dashboard`)).status).toBe(401);
    const page = await fetch(`${url}/dashboard`, { headers: auth });
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).not.toMatch(/<script>|<script(?![^>]*(src=|type="application\/json"))/);
    expect(body).not.toContain('style=');
    const chartJs = await fetch(`${url}/dashboard/assets/chart.umd.min.js`, { headers: auth });
    expect(chartJs.headers.get('content-type')).toContain('javascript');
    expect(await chartJs.text()).toContain('Chart.js v4');
    for (const name of [
      'cost',
      'per-user',
      'cache',
      'top-users',
      'queues',
      'nightly',
      'headroom',
    ]) {
      const csv = await fetch(`${url}/dashboard/${name}.csv`, { headers: auth });
      expect(csv.status, name).toBe(200);
      expect(csv.headers.get('content-type')).toContain('text/csv');
      expect(body).toContain(`href="/dashboard/${name}.csv"`);
    }
    const missing = await fetch(`${url}/dashboard/nope.csv`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('one of cost, per-user');
  });

  it('escapes CSV fields with commas, quotes and line breaks', async () => {
    await database.db
      .insertInto('usage_daily')
      .values({
        day: YESTERDAY,
        user_id: 'o"brien, the\ntester',
        api_key_id: '',
        api_calls: '3',
        cost_usd: '0.004',
      })
      .execute();
    const url = await board();
    const csv = await (await fetch(`${url}/dashboard/top-users.csv`, { headers: auth })).text();
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('user_id,cost_usd,api_calls,generations,tokens,budget');
    expect(lines[1]).toBe('user-whale,0.005,2,2,6000,');
    expect(lines[2]).toBe('"o""brien, the\ntester",0.004,3,0,0,');
    expect(lines[3]).toBe('user-30,0.0003,30,61,900,');
  });
});
