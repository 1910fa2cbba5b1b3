import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { oldestWaitingMs } from '../queue/queue-lag.ts';

/** The Prometheus metrics a worker process exposes on `/metrics`. */
export interface WorkerMetrics {
  registry: Registry;
  completed: Counter<'queue'>;
  failed: Counter<'queue' | 'reason'>;
  duration: Histogram<'queue'>;
  /** Queues whose depth is sampled at scrape time. */
  watch(queues: Queue[]): void;
}

/** Creates a registry per process (not prom-client's global one, so tests can run many). */
export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  const watched: Queue[] = [];
  const completed = new Counter({
    name: 'lowburn_jobs_completed_total',
    help: 'Jobs completed by this process.',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  const failed = new Counter({
    name: 'lowburn_jobs_failed_total',
    help: 'Job attempts that failed in this process, by error name.',
    labelNames: ['queue', 'reason'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'lowburn_job_duration_seconds',
    help: 'Processing time of completed jobs.',
    labelNames: ['queue'] as const,
    buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers: [registry],
  });
  new Gauge({
    name: 'lowburn_queue_jobs',
    help: 'Jobs per queue and state, read from Redis at scrape time.',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        watched.map(async (queue) => {
          const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
          for (const [state, count] of Object.entries(counts)) {
            this.set({ queue: queue.name, state }, count);
          }
        }),
      );
    },
  });
  new Gauge({
    name: 'lowburn_queue_oldest_waiting_seconds',
    help: "Age of each queue's oldest job waiting for a worker (its lag), read from Redis at scrape time.",
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        watched.map(async (queue) => {
          this.set({ queue: queue.name }, (await oldestWaitingMs(queue)) / 1000);
        }),
      );
    },
  });
  return {
    registry,
    completed,
    failed,
    duration,
    watch: (queues) => watched.push(...queues),
  };
}

/**
 * Wraps `create` so each registry gets its metrics once: a metric name registers only once per
 * registry, and every job of a process asks for its metrics again and again.
 *
 * @example
 * export const exportMetrics = oncePerRegistry((registry) => ({ rows: new Counter({ … }) }));
 */
export function oncePerRegistry<T, A extends unknown[]>(
  create: (registry: Registry, ...args: A) => T,
): (registry: Registry, ...args: A) => T {
  const made = new WeakMap<Registry, T>();
  const factory = (registry: Registry, ...args: A) => {
    let metrics = made.get(registry);
    if (metrics === undefined) {
      metrics = create(registry, ...args);
      made.set(registry, metrics);
    }
    return metrics;
  };
  metricsFactories.add(factory);
  return factory;
}

type MetricsFactory = (registry: Registry, ...args: never[]) => unknown;
const metricsFactories = new WeakSet<object>();

/**
 * Whether `value` registers metrics (was made by {@link oncePerRegistry}): lets a test build a
 * process's whole registry from the metrics modules it imports, and check names against it.
 */
export function isMetricsFactory(value: unknown): value is MetricsFactory {
  return typeof value === 'function' && metricsFactories.has(value);
}
