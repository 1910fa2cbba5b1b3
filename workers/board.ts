import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { type ServerType, serve } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import type { Redis } from 'ioredis';
import type { Config } from '../shared/config/load-config.ts';
import { assertProcessRequirements } from '../shared/config/process-requirements.ts';
import { createDb, type Db } from '../shared/db/create-db.ts';
import type { Logger } from '../shared/log/logger.ts';
import type { QueueContract } from '../shared/queue/job-definition.ts';
import { Queues } from '../shared/queue/queues.ts';
import { createWorkerConnection } from '../shared/redis/connections.ts';
import { dashboardApp } from './dashboard/index.ts';

export const BOARD_PATH = '/queues';

/**
 * The operators' app: Bull Board over every queue in the catalog, behind HTTP basic auth
 * (mandatory in production, enforced by the config), optionally read-only.
 */
export function createBoardApp(options: {
  config: Config;
  catalog: Record<string, QueueContract>;
  queues: Queues;
  log: Logger;
  /** The dashboard's reads: the rollup's tables and ledgers, Redis's counts and sizes. */
  db: Db;
  redis: Redis;
}): Hono {
  const { config, queues } = options;
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  if (config.board.password) {
    app.use('*', basicAuth({ username: config.board.username, password: config.board.password }));
  } else {
    options.log.warn(
      'board has no BOARD_PASSWORD; anyone who reaches this port controls the queues',
    );
  }
  const adapter = new HonoAdapter(serveStatic).setBasePath(BOARD_PATH);
  createBullBoard({
    queues: Object.values(options.catalog).map(
      (job) =>
        new BullMQAdapter(queues.get(job), {
          readOnlyMode: config.board.readOnly,
          description: job.description,
        }),
    ),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'lowburn' } },
  });
  app.route(BOARD_PATH, adapter.registerPlugin());
  app.route('/dashboard', dashboardApp(options));
  app.get('/', (c) => c.redirect(BOARD_PATH));
  return app;
}

/** Starts the board process's HTTP server. */
export async function startBoard(options: {
  config: Config;
  catalog: Record<string, QueueContract>;
  log: Logger;
  port?: number;
}): Promise<{ port: number; stop(): Promise<void> }> {
  const { config, log } = options;
  // bootConfig('board') checks this too; a board started by other code must not skip it.
  assertProcessRequirements(config, 'board');
  const connection = createWorkerConnection(config.redis.url);
  connection.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
  const queues = new Queues({ connection, prefix: config.queuePrefix });
  const { db } = createDb({
    url: config.database.url,
    poolMax: 4,
    log,
    applicationName: 'lowburn-board',
  });
  const app = createBoardApp({ ...options, queues, db, redis: connection });
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve) => {
    const s = serve(
      { fetch: app.fetch, port: options.port ?? config.board.port, hostname: '0.0.0.0' },
      (info) => resolve({ server: s, port: info.port }),
    );
  });
  log.info({ port, path: BOARD_PATH, readOnly: config.board.readOnly }, 'board ready');
  return {
    port,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queues.close();
      await db.destroy();
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
