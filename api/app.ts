import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { whenReady } from '../shared/redis/connections.ts';
import { ApiError } from './api-error.ts';
import { authenticate } from './auth.ts';
import type { ApiDeps, ApiEnv } from './deps.ts';
import { openApiDocument } from './openapi.ts';
import { RateLimits } from './rate-limits.ts';
import { cacheRoutes } from './routes/cache.ts';
import { GENERATIONS_PATH, generationRoutes } from './routes/generations.ts';
import { jobRoutes } from './routes/jobs.ts';
import { pipelineRoutes } from './routes/pipelines.ts';
import { telemetryRoutes } from './routes/telemetry.ts';
import { userRoutes } from './routes/users.ts';
import { webhookRoutes } from './routes/webhooks.ts';

const READY_WAIT_MS = 1_500;
const TELEMETRY_MAX_BODY_BYTES = 1024 * 1024;

const tooLarge = (maxSize: number) =>
  new ApiError(
    413,
    'payload_too_large',
    `the body is larger than ${Math.round(maxSize / 1024)} KB; send less`,
    // The unread rest of the body makes the connection unusable: say so, so the client does
    // not send its next request on a socket the server is about to close.
    { headers: { connection: 'close' } },
  );

/**
 * Caps request bodies: `maxBytes`, and at least 1 MiB for `/v1/telemetry` (a full batch of 1,000
 * pings with a few attributes runs to ~450 KB). A declared `Content-Length` is checked as is —
 * the HTTP parser never reads past it — so only chunked bodies pay for a streaming count, which
 * makes the adapter build a full Web Request (measured: ~25 % of the API's CPU at full load).
 */
function bodyCap(maxBytes: number): MiddlewareHandler<ApiEnv> {
  const streaming = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError: () => {
        throw tooLarge(maxSize);
      },
    });
  const caps = { telemetry: Math.max(maxBytes, TELEMETRY_MAX_BODY_BYTES), other: maxBytes };
  const chunked = { telemetry: streaming(caps.telemetry), other: streaming(caps.other) };
  return async (c, next) => {
    const which = c.req.path.endsWith('/telemetry') ? 'telemetry' : 'other';
    const declared = c.req.header('content-length');
    if (declared !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(declared) > caps[which]) throw tooLarge(caps[which]);
      return next();
    }
    return chunked[which](c, next);
  };
}

/**
 * The thin API as a Web-standard fetch handler: `createApi(deps).fetch(request)`. It only
 * validates, authenticates, rate-limits and enqueues; every answer is JSON, no stack trace
 * ever leaves the process, and Redis being down is a 503 with `Retry-After`, never a hang.
 */
export function createApi(deps: ApiDeps, options: { version?: string } = {}): Hono<ApiEnv> {
  const limits = new RateLimits({
    redis: deps.redis,
    prefix: deps.queues.prefix,
    limits: deps.config.rateLimits,
  });
  const app = new Hono<ApiEnv>();
  const openapi = openApiDocument({
    version: options.version ?? '0.0.0',
    pipelines: Object.keys(deps.pipelines),
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) =>
    (await whenReady(deps.redis, READY_WAIT_MS))
      ? c.json({ status: 'ok' })
      : c.json({ status: 'unavailable', checks: { redis: deps.redis.status } }, 503, {
          'retry-after': '2',
        }),
  );
  app.get('/v1/openapi.json', (c) => c.json(openapi));

  const v1 = new Hono<ApiEnv>();
  v1.use(bodyCap(deps.config.maxBodyBytes));
  v1.use(async (_c, next) => {
    if (!(await whenReady(deps.redis, READY_WAIT_MS))) {
      throw new ApiError(
        503,
        'unavailable',
        'the queue store is unavailable; nothing was queued, retry shortly',
        {
          headers: { 'retry-after': '2' },
        },
      );
    }
    await next();
  });
  v1.use(
    authenticate(deps, limits, (c) => c.req.method === 'POST' && c.req.path === GENERATIONS_PATH),
  );
  v1.route('/', generationRoutes(deps, limits));
  v1.route('/', jobRoutes(deps));
  v1.route('/', pipelineRoutes(deps));
  v1.route('/', telemetryRoutes(deps));
  v1.route('/', webhookRoutes(deps));
  v1.route('/', cacheRoutes(deps));
  v1.route('/', userRoutes(deps));
  app.route('/v1', v1);

  app.notFound((c) =>
    c.json(
      {
        error: {
          code: 'not_found',
          message: `no route ${c.req.method} ${new URL(c.req.url).pathname}`,
        },
      },
      404,
    ),
  );
  app.onError((error, c) => {
    if (error instanceof ApiError) {
      return c.json(error.toBody(), error.status as 400, error.headers);
    }
    if (isClientAbort(error)) {
      // The client hung up before its body arrived in full: nothing was done, nobody waits for
      // the answer, and it is no fault of the server (as an error, a hostile client could flood
      // the logs with it).
      deps.log.debug({ path: c.req.path }, 'client closed the connection before sending its body');
      return c.json(
        { error: { code: 'invalid_request', message: 'the request body did not arrive in full' } },
        400,
      );
    }
    deps.log.error({ err: error, path: c.req.path }, 'unhandled error in API');
    return c.json(
      { error: { code: 'internal', message: 'internal error; it has been logged' } },
      500,
    );
  });
  return app;
}

/** Node's error for a request whose client closed the connection while sending its body. */
const isClientAbort = (error: Error) =>
  error.message === 'aborted' && (error as NodeJS.ErrnoException).code === 'ECONNRESET';
