import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', '.tools/**'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup-leaks.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files share one Postgres and one Redis; two workers keep the 2-core machine responsive.
    maxWorkers: 2,
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
  },
});
