import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { type ServerType, serve } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { type Context, Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { Config } from '../shared/config/load-config.ts';
import { assertProcessRequirements } from '../shared/config/process-requirements.ts';
import { createDb, type Db } from '../shared/db/create-db.ts';
import type { Logger } from '../shared/log/logger.ts';
import type { QueueContract } from '../shared/queue/job-definition.ts';
import { Queues } from '../shared/queue/queues.ts';
import type { RedisClient } from '../shared/redis/connections.ts';
import { createProducerConnection, createWorkerConnection } from '../shared/redis/connections.ts';
import { LoginLimiter, mountLogin, requireSignIn, viewersOnlyRead } from './board-auth.ts';
import type { BoardEnv, BoardRole } from './board-session.ts';
import { dashboardApp } from './dashboard/index.ts';

export const BOARD_PATH = '/queues';
export type { BoardEnv, BoardRole };

/**
 * On every response, Bull Board's and errors included. Bull Board's page has no inline script
 * (its `__UI_CONFIG__` is a JSON data block), but it has inline styles and loads IBM Plex from
 * Google Fonts.
 */
export const boardSecureHeaders = () =>
  secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'", 'https://fonts.googleapis.com'],
      fontSrc: ["'self'", 'https://fonts.gstatic.com'],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: 'DENY',
    xContentTypeOptions: 'nosniff',
    referrerPolicy: 'same-origin',
  });

/** One Bull Board over every queue, mounted at {@link BOARD_PATH} of its own app. */
function bullBoard(options: {
  catalog: Record<string, QueueContract>;
  queues: Queues;
  readOnly: boolean;
  title: string;
  signOut: boolean;
}): Hono {
  const adapter = new HonoAdapter(serveStatic).setBasePath(BOARD_PATH);
  createBullBoard({
    queues: Object.values(options.catalog).map(
      (job) =>
        new BullMQAdapter(options.queues.get(job), {
          readOnlyMode: options.readOnly,
          description: job.description,
        }),
    ),
    serverAdapter: adapter,
    options: {
      uiConfig: {
        boardTitle: options.title,
        miscLinks: options.signOut ? [{ text: 'Sign out', url: '/logout' }] : [],
      },
    },
  });
  return new Hono().route(BOARD_PATH, adapter.registerPlugin());
}

/**
 * The operators' app: Bull Board over every queue in the catalog, behind a sign-in (mandatory
 * in production, enforced by the config). The operator gets a board with every control; the
 * viewer one in read-only mode, and every write of theirs is refused (403) before it reaches
 * Bull Board. Routes mounted after this returns are behind the sign-in too, with
 * `c.get('role')`.
 */
export function createBoardApp(options: {
  config: Config;
  catalog: Record<string, QueueContract>;
  queues: Queues;
  /** A fail-fast connection: the login limiter's, and the dashboard's counts and sizes. */
  redis: RedisClient;
  /** The dashboard's reads: the rollup's tables and ledgers. */
  db: Db;
  log: Logger;
}): Hono<BoardEnv> {
  const { config, queues, catalog } = options;
  const board = config.board;
  const app = new Hono<BoardEnv>();
  app.use('*', boardSecureHeaders());
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  const signIn = board.password !== undefined;
  if (signIn) {
    const limiter = new LoginLimiter({
      redis: options.redis,
      prefix: config.queuePrefix,
      failuresPerIp: board.loginFailuresPerIp,
    });
    mountLogin(app, { board, limiter, home: BOARD_PATH });
    app.use('*', requireSignIn({ board, limiter }));
  } else {
    options.log.warn(
      'board has no BOARD_PASSWORD; anyone who reaches this port controls the queues',
    );
    app.get('/login', (c) => c.redirect(BOARD_PATH));
    app.use('*', async (c, next) => {
      c.set('role', 'operator');
      await next();
    });
  }
  app.use('*', viewersOnlyRead());
  const boards: Record<BoardRole, Hono> = {
    operator: bullBoard({
      catalog,
      queues,
      readOnly: board.readOnly,
      title: 'lowburn',
      signOut: signIn,
    }),
    viewer: bullBoard({
      catalog,
      queues,
      readOnly: true,
      title: 'lowburn (read-only)',
      signOut: true,
    }),
  };
  const toBoard = (c: Context<BoardEnv>) => boards[c.get('role')].fetch(c.req.raw, c.env);
  app.all(BOARD_PATH, toBoard);
  app.all(`${BOARD_PATH}/*`, toBoard);
  app.route('/dashboard', dashboardApp(options));
  app.get('/', (c) => c.redirect(BOARD_PATH));
  return app;
}

/** The board's own pool: its pages read a few rows (counted in the worker's connection budget). */
const BOARD_POOL_MAX = 4;

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
  const connection = createWorkerConnection(config.redis);
  connection.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
  const redis = createProducerConnection(config.redis, { connectionName: 'lowburn-board' });
  redis.on('error', () => {});
  const queues = new Queues({ connection, prefix: config.queuePrefix });
  const { db } = createDb({
    url: config.database.url,
    poolMax: BOARD_POOL_MAX,
    preparedStatements: config.database.preparedStatements,
    log,
    applicationName: 'lowburn-board',
  });
  const app = createBoardApp({ ...options, queues, redis, db });
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve) => {
    const s = serve(
      { fetch: app.fetch, port: options.port ?? config.board.port, hostname: '0.0.0.0' },
      (info) => resolve({ server: s, port: info.port }),
    );
  });
  const { readOnly, viewerPassword } = config.board;
  log.info(
    {
      port,
      path: BOARD_PATH,
      readOnly,
      viewer: Boolean(viewerPassword),
      dbPoolMax: BOARD_POOL_MAX,
    },
    'board ready',
  );
  return {
    port,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queues.close();
      await db.destroy();
      await connection.quit().catch(() => connection.disconnect());
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
