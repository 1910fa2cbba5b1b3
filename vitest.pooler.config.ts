import { defineConfig } from 'vitest/config';

// `npm run test:pooler`: the database-facing tests that matter, through a PgBouncer in
// transaction mode (test/pooler/global-setup.ts), plus the pooler's own checks.
export default defineConfig({
  test: {
    include: [
      'test/pooler/**/*.pooler.ts',
      // The webhook ledger and dispatch.
      'jobs/deliver-webhook/deliver-webhook.test.ts',
      'jobs/dispatch-webhooks/dispatch-webhooks.test.ts',
      'test/api/webhooks.test.ts',
      // The generations write path.
      'jobs/generate/generate.test.ts',
      'test/api/generations.test.ts',
      // The telemetry flush.
      'shared/telemetry/flush.test.ts',
      'jobs/flush-telemetry/flush-telemetry.test.ts',
      // The export (its lock, its COPY streams).
      'jobs/export-cold/export-cold.test.ts',
      'jobs/export-cold/export-cold-job.test.ts',
      // The erasures' cold rewrite (the same write lock as the export).
      'jobs/apply-erasures/apply-erasures.test.ts',
      // Budgets and usage.
      'shared/usage/budgets.test.ts',
      'jobs/rollup-usage/rollup-usage.test.ts',
      'test/api/usage.test.ts',
      'test/api/budgets.test.ts',
      // Migrations (their lock is a transaction lock).
      'shared/db/migrations.test.ts',
    ],
    exclude: ['**/node_modules/**', '.tools/**'],
    globalSetup: ['test/pooler/global-setup.ts'],
    setupFiles: ['test/setup-leaks.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    reporters: ['default', ['json', { outputFile: '.vitest-pooler-report.json' }]],
  },
});
