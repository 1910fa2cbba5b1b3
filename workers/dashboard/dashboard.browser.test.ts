import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobs } from '../../jobs/index.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { recordSizeSample } from '../../shared/usage/size-samples.ts';
import { ARTIFACTS_DIR, useBrowser } from '../../test/fixtures/browser.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { seedRollup } from '../../test/fixtures/usage-rollup.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { startBoard } from '../board.ts';
import { syncSchedulers } from '../runtime/schedulers.ts';

const log = createLogger({ level: 'silent' });

/** The part of a page's canvas the checks read (the test code compiles without DOM types). */
interface PageCanvas {
  id: string;
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(...box: number[]): { data: ArrayLike<number> } } | null;
}
const TODAY = utcDay(new Date());
const day = (offset: number) => utcDay(new Date(), offset);

describe('the dashboard in a real browser', () => {
  const database = useTestDatabase();
  // A real worker runs the rollup and the fine-tune export, so the nightly table has a run
  // that completed and one that failed; the board shares its queue prefix.
  const w = useJobWorker(database, {
    'rollup-usage': jobs['rollup-usage'],
    'export-finetune': jobs['export-finetune'],
  });
  const chromium = useBrowser();
  let url = '';
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const r = { redis: w.redis, prefix: w.prefix };
    const { db } = database;
    await seedRollup(db, { today: TODAY, days: 30, users: 40 });
    for (let i = 7; i >= 1; i--) {
      await db
        .insertInto('precompute_runs')
        .values({
          id: randomUUID(),
          state: 'finished',
          window_from: `${day(-i - 7)}T03:00:00Z`,
          window_to: `${day(-i)}T03:00:00Z`,
          candidates: 1000,
          skipped_fresh: 120,
          generated_local: 830 + i,
          failed: 50 - i,
          cost_usd: 0,
          started_at: `${day(-i)}T03:00:00Z`,
          finished_at: `${day(-i)}T03:40:00Z`,
        })
        .execute();
      await db
        .insertInto('cache_audits')
        .values({
          day: day(-i),
          task_type: 'summary',
          semantic_hits: 400,
          sampled: 60,
          sample_size: 50,
          false_hits: i % 3,
          min_similarity: 0.92,
          max_false_hit: 0.05,
        })
        .execute();
      await recordSizeSample(r.redis, r.prefix, day(-i), {
        // Below what the test's database and Redis hold now: they grew to it.
        postgresBytes: 2e6 + (7 - i) * 1e6,
        redisBytes: 1e6 + (7 - i) * 1e5,
      });
    }
    for (const table of ['generations', 'telemetry']) {
      await db
        .insertInto('export_runs')
        .values({ table_name: table, day: day(-2), state: 'dropped', rows: 50_000, bytes: 2e6 })
        .execute();
    }
    const config = testConfig({
      QUEUE_PREFIX: r.prefix,
      DATABASE_URL: database.url,
      BOARD_PASSWORD: 'correct-horse-battery',
      CPAU_TARGET_USD: '0.05',
    });
    await syncSchedulers({
      connection: r.redis,
      prefix: r.prefix,
      jobs: Object.values(jobs),
      config,
      log,
    });
    const raw = (name: string) => new Queue(name, { connection: r.redis, prefix: r.prefix });
    const generate = raw('generate');
    for (let i = 0; i < 12; i++)
      await generate.add('generate', {}, { timestamp: Date.now() - 20_000 });
    // A day outside the charted 30: the run completes without touching the seeded days.
    await w.queues.add(jobs['rollup-usage'], { day: '2020-01-01' });
    // Past the API's parsing: the worker refuses it, and the job fails for good.
    const finetune = raw('export-finetune');
    await finetune.add('export-finetune', { task: 'no-such-task' });
    await waitUntil(
      async () =>
        (await w.queues.get(jobs['rollup-usage']).getCompletedCount()) === 1 &&
        (await finetune.getFailedCount()) === 1,
      60_000,
      'the rollup completes and the bad fine-tune export fails',
    );
    await Promise.all([generate.close(), finetune.close()]);
    const started = await startBoard({ config, catalog: jobs, log, port: 0 });
    stop = started.stop;
    url = `http://127.0.0.1:${started.port}`;
  });
  afterAll(async () => {
    await stop?.();
  });

  it('draws every chart from the seeded rollup and shows the CPAU the database holds', async () => {
    const context = await chromium.context({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    // Signed in through the board's own form first (its page is the board's, under its CSP).
    await page.goto(`${url}/login?next=/queues`);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('correct-horse-battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${url}/queues`);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('response', (response) => {
      // Chromium asks for a favicon on its own; everything the page loads must be there.
      if (response.status() >= 400 && !response.url().endsWith('/favicon.ico'))
        errors.push(`${response.status()} ${response.url()}`);
    });
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) errors.push(m.text());
    });
    // The CSP the board's pages are to carry: any inline script or style would be refused.
    await page.route(`${url}/dashboard`, async (route) => {
      const response = await route.fetch();
      await route.fulfill({
        response,
        headers: {
          ...response.headers(),
          'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'",
        },
      });
    });
    await page.goto(`${url}/dashboard`);
    const canvases = page.locator('canvas[data-chart]');
    const ids = await canvases.evaluateAll((all) =>
      all.map((c) => (c as unknown as PageCanvas).id),
    );
    expect(ids.sort()).toEqual(
      [
        'cache',
        'cost-split',
        'cpau',
        'headroom',
        'per-user-calls',
        'per-user-tokens',
        'per-user-writes',
        'queues',
        'top-users',
      ].map((id) => `chart-${id}`),
    );
    await page.waitForFunction(
      `document.querySelectorAll('.chart.drawn').length === ${ids.length}`,
    );
    // Each canvas has pixels drawn on it: Chart.js drew the data, not an empty frame.
    const painted = await canvases.evaluateAll((all) =>
      all.map((c) => {
        const canvas = c as unknown as PageCanvas;
        const pixels = canvas
          .getContext('2d')
          ?.getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 3; i < (pixels?.length ?? 0); i += 4) if ((pixels?.[i] ?? 0) > 0) inked++;
        return { id: canvas.id, width: canvas.width, inked };
      }),
    );
    for (const c of painted) {
      expect(c.width, c.id).toBeGreaterThan(100);
      expect(c.inked, c.id).toBeGreaterThan(500);
    }
    const stored = await database.db
      .selectFrom('cost_daily')
      .select('cpau_usd')
      .where('day', '=', day(-1))
      .executeTakeFirstOrThrow();
    const tile = page.locator('.tile.cpau .value');
    expect(await tile.getAttribute('data-value')).toBe(stored.cpau_usd);
    expect(await tile.textContent()).toBe(`$${Number(stored.cpau_usd).toFixed(4)}`);
    expect(await page.locator('#table-top-users tbody tr').count()).toBe(20);
    const nightly = page.locator('#table-nightly tbody tr');
    expect(await nightly.filter({ hasText: 'rollup-usage' }).textContent()).toContain('completed');
    expect(await nightly.filter({ hasText: 'export-finetune' }).textContent()).toContain('failed');
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard.png'), fullPage: true });
  });
});
