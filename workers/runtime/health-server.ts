import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import type { WorkerMetrics } from '../../shared/metrics/registry.ts';

const CHECK_TIMEOUT_MS = 2_000;

async function check(name: string, probe: () => Promise<unknown>): Promise<[string, string]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return [name, 'ok'];
  } catch (error) {
    return [name, error instanceof Error ? error.message : String(error)];
  } finally {
    clearTimeout(timer);
  }
}

/** `/healthz` (Redis and Postgres reachable) and `/metrics` (Prometheus text). */
export function createHealthApp(deps: { redis: Redis; db: Db; metrics: WorkerMetrics }): Hono {
  const app = new Hono();
  app.get('/healthz', async (c) => {
    const checks = Object.fromEntries(
      await Promise.all([
        check('redis', () => deps.redis.ping()),
        check('postgres', () => sql`SELECT 1`.execute(deps.db)),
      ]),
    );
    const ok = Object.values(checks).every((v) => v === 'ok');
    return c.json({ status: ok ? 'ok' : 'unavailable', checks }, ok ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    const body = await deps.metrics.registry.metrics();
    return c.body(body, 200, { 'content-type': deps.metrics.registry.contentType });
  });
  return app;
}

/** Serves the health app; resolves once listening, with the bound port. */
export function serveHealth(
  app: Hono,
  port: number,
): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '0.0.0.0' }, (info) =>
      resolve({ server, port: info.port }),
    );
  });
}
