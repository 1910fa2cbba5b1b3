import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import { bufferStats } from '../../shared/telemetry/buffer.ts';

export interface FlushMetrics {
  rows: Histogram;
  duration: Histogram;
  duplicates: Counter;
  rewrites: Counter;
}

/** The telemetry metrics of one process, registered once on its `/metrics` registry. */
export const flushMetrics = oncePerRegistry(
  (registry: Registry, redis: RedisClient, prefix: string): FlushMetrics => {
    const registers = [registry];
    // Both gauges read the same stats: one Redis read per scrape, shared for a second.
    let read: { at: number; stats: ReturnType<typeof bufferStats> } | undefined;
    const stats = () => {
      if (!read || Date.now() - read.at > 1_000)
        read = { at: Date.now(), stats: bufferStats(redis, prefix) };
      return read.stats;
    };
    new Gauge({
      name: 'lowburn_telemetry_buffer_depth',
      help: 'Pings in the Redis stream not yet written to Postgres.',
      registers,
      async collect() {
        this.set((await stats()).depth);
      },
    });
    new Gauge({
      name: 'lowburn_telemetry_oldest_unflushed_seconds',
      help: 'Age of the oldest ping not yet written to Postgres.',
      registers,
      async collect() {
        this.set((await stats()).oldestAgeMs / 1000);
      },
    });
    const metrics: FlushMetrics = {
      rows: new Histogram({
        name: 'lowburn_telemetry_flush_rows',
        help: 'Rows written per flush.',
        buckets: [0, 10, 100, 1_000, 10_000, 100_000, 1_000_000],
        registers,
      }),
      duration: new Histogram({
        name: 'lowburn_telemetry_flush_seconds',
        help: 'Duration of a flush.',
        buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30],
        registers,
      }),
      duplicates: new Counter({
        name: 'lowburn_telemetry_duplicates_total',
        help: 'Pings already stored (resent or retried) that the flush skipped.',
        registers,
      }),
      rewrites: new Counter({
        name: 'lowburn_telemetry_flush_rewrites_total',
        help: 'Batches whose COPY met a duplicate and were written again with ON CONFLICT DO NOTHING (each costs its batch about twice).',
        registers,
      }),
    };
    return metrics;
  },
);
