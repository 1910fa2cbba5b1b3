import { defineConfig } from 'vitest/config';

// `npm run test:cluster`: the tests of what lives in Redis — the API, the queues, telemetry, the
// generation caches and webhooks — against a six-node Redis Cluster instead of one server.
export default defineConfig({
  test: {
    include: [
      // API: enqueue, job status, rate limits and budgets, telemetry ingest, idempotency.
      'test/api/generations.test.ts',
      'test/api/budgets.test.ts',
      'test/api/telemetry.test.ts',
      'test/api/webhooks.test.ts',
      'test/api/cache.test.ts',
      // Queues: schedulers, lag, shutdown hand-back.
      'test/fleet/schedules.test.ts',
      'test/fleet/shutdown.test.ts',
      'shared/queue/queue-lag.test.ts',
      // Telemetry: the stream, its consumer group and the flush.
      'shared/telemetry/flush.test.ts',
      // Generation caches: exact/template/precomputed, the semantic index's stream, purges.
      'jobs/generate/generate.test.ts',
      'shared/inference/pipeline.test.ts',
      'shared/inference/semantic-index.test.ts',
      'shared/inference/namespace-registry.test.ts',
      'shared/inference/cache-purge.test.ts',
      // The semantic cap's eviction script (keys built from ARGV: one slot through the hash tag).
      'shared/inference/semantic-eviction.test.ts',
      // A user's erasure: their caches, job records and counters, found by SCAN on every master.
      'jobs/erase-user/erase-user.test.ts',
      // Webhooks: delivery, endpoint slots.
      'jobs/deliver-webhook/deliver-webhook.test.ts',
      'shared/webhooks/endpoint-slots.test.ts',
      // Connections and the boot checks on a cluster.
      'shared/redis/*.cluster.ts',
    ],
    exclude: ['**/node_modules/**', '.tools/**'],
    globalSetup: ['test/cluster-setup.ts'],
    setupFiles: ['test/setup-leaks.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    reporters: ['default', ['json', { outputFile: '.vitest-cluster-report.json' }]],
  },
});
