import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import type { WorkerMetrics } from '../../shared/metrics/registry.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';

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

/** What the health server answers with. */
export interface HealthDeps {
  redis: RedisClient;
  db: Db;
  metrics: WorkerMetrics;
}

/**
 * `/healthz` (Redis and Postgres reachable: 200, else 503 naming what failed) and `/metrics`
 * (Prometheus text); anything else is 404. Plain `node:http`: two routes do not need a
 * framework, and an idle worker's RSS is part of the budget (Hono and its adapter cost ~3 MB).
 */
export async function answerHealth(
  deps: HealthDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, JSON_TYPE, '{}');
  if (path === '/healthz') {
    const checks = Object.fromEntries(
      await Promise.all([
        check('redis', () => deps.redis.ping()),
        check('postgres', () => sql`SELECT 1`.execute(deps.db)),
      ]),
    );
    const ok = Object.values(checks).every((v) => v === 'ok');
    const body = JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks });
    return send(res, ok ? 200 : 503, JSON_TYPE, body);
  }
  if (path === '/metrics') {
    const body = await deps.metrics.registry.metrics();
    return send(res, 200, deps.metrics.registry.contentType, body);
  }
  return send(res, 404, JSON_TYPE, JSON.stringify({ error: `no route ${path}` }));
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Serves `/healthz` and `/metrics`; resolves once listening, with the bound port. */
export function serveHealth(
  deps: HealthDeps,
  port: number,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    answerHealth(deps, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, JSON_TYPE, '{"status":"error"}');
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => {
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}
