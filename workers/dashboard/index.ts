import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';
import type { Config } from '../../shared/config/load-config.ts';
import type { Db } from '../../shared/db/create-db.ts';
import type { QueueContract } from '../../shared/queue/job-definition.ts';
import type { Queues } from '../../shared/queue/queues.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import { buildCharts } from './charts.ts';
import { tableCsv } from './csv.ts';
import { type DashboardDeps, loadFacts } from './load.ts';
import { renderPage } from './render.ts';
import { buildTables, TABLE_NAMES, type TableName } from './tables.ts';

export type { DashboardDeps } from './load.ts';

/** Files the page loads, read once: ours beside this module, Chart.js from node_modules. */
function assets(): Record<string, { body: string; type: string }> {
  const chartJs = join(
    dirname(createRequire(import.meta.url).resolve('chart.js')),
    'chart.umd.min.js',
  );
  const own = (name: string) => readFileSync(join(import.meta.dirname, 'assets', name), 'utf8');
  return {
    'chart.umd.min.js': { body: readFileSync(chartJs, 'utf8'), type: 'text/javascript' },
    'dashboard.js': { body: own('dashboard.js'), type: 'text/javascript' },
    'dashboard.css': { body: own('dashboard.css'), type: 'text/css' },
  };
}

/**
 * `/dashboard`: the cost dashboard, server-rendered from the rollup's tables, the ledgers and
 * the queues on every request; `/dashboard/<table>.csv` each table; `/dashboard/assets/*` the
 * chart library and our drawing code, served from the image (never a CDN). Mounted behind the
 * board's login, over the board's clients and catalog.
 */
export function dashboardApp(board: {
  config: Config;
  catalog: Record<string, QueueContract>;
  queues: Queues;
  db: Db;
  redis: RedisClient;
}): Hono {
  const { config } = board;
  const deps: DashboardDeps = {
    db: board.db,
    redis: board.redis,
    prefix: config.queuePrefix,
    queues: new Map(Object.values(board.catalog).map((j) => [j.queue, board.queues.get(j)])),
    costs: config.costs,
    cpauTargetUsd: config.alerts.cpauTargetUsd,
    budgetsOn: config.budgets.dailyUsd !== undefined || config.budgets.dailyHardUsd !== undefined,
    telemetryBufferCap: config.telemetry.bufferCap,
  };
  const files = assets();
  const app = new Hono();
  app.get('/', async (c) => {
    const facts = await loadFacts(deps);
    c.header('Cache-Control', 'no-store');
    return c.html(renderPage(facts, buildTables(facts), buildCharts(facts)));
  });
  app.get('/assets/:file', (c) => {
    const file = files[c.req.param('file')];
    if (!file) return c.text('no such file', 404);
    c.header('Cache-Control', 'public, max-age=3600');
    return c.body(file.body, 200, { 'Content-Type': `${file.type}; charset=utf-8` });
  });
  app.get('/:file{[a-z-]+\\.csv}', async (c) => {
    const name = c.req.param('file').replace(/\.csv$/, '');
    if (!(TABLE_NAMES as readonly string[]).includes(name)) {
      return c.text(`no table "${name}": one of ${TABLE_NAMES.join(', ')}`, 404);
    }
    const table = buildTables(await loadFacts(deps))[name as TableName];
    c.header('Cache-Control', 'no-store');
    c.header('Content-Disposition', `attachment; filename="lowburn-${name}.csv"`);
    return c.body(tableCsv(table), 200, { 'Content-Type': 'text/csv; charset=utf-8' });
  });
  return app;
}
