import { Gauge, type Registry } from 'prom-client';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import type { DispatchResult } from './dispatch-due.ts';

/** Where the last dispatcher run leaves the lag, for every worker's `/metrics` to read. */
const lagKey = (prefix: string) => `${prefix}:webhook-lag`;

/** Stores the lag one dispatcher run measured (any worker may have run it). */
export async function storeLag(
  redis: RedisClient,
  prefix: string,
  lag: DispatchResult['lagSeconds'],
): Promise<void> {
  await redis.hset(lagKey(prefix), {
    healthy: lag.healthy.toFixed(3),
    failing: lag.failing.toFixed(3),
  });
}

/**
 * `lowburn_webhook_queue_lag_seconds{endpoints}`: the age of the oldest due webhook delivery
 * not yet handed to a worker, for the worst `healthy` endpoint and the worst `failing` one.
 * Two series whatever the number of endpoints; a dead endpoint's backlog shows under `failing`
 * and cannot hide a healthy endpoint's lag. Read from Redis at scrape time, so every worker
 * reports the fleet's value, not only the one whose turn it was to dispatch.
 */
export const dispatchMetrics = oncePerRegistry(
  (registry: Registry, redis: RedisClient, prefix: string): { lag: Gauge<'endpoints'> } => ({
    lag: new Gauge({
      name: 'lowburn_webhook_queue_lag_seconds',
      help: 'Age of the oldest due webhook delivery not yet handed to a worker (waiting for a slot or for the dispatcher), worst endpoint of each kind.',
      labelNames: ['endpoints'],
      registers: [registry],
      async collect() {
        const lag = await redis.hgetall(lagKey(prefix));
        for (const endpoints of ['healthy', 'failing'] as const) {
          this.set({ endpoints }, Number(lag[endpoints] ?? 0));
        }
      },
    }),
  }),
);
