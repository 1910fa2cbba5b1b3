import { defineConfig } from 'vitest/config';

// `npm run test:faults`: fault runs that take a minute or more each (a killed worker's job waits
// out BullMQ's 30 s lock before another worker takes it), kept out of `npm test`.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    exclude: ['**/node_modules/**', '.tools/**'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup-leaks.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    reporters: ['default', ['json', { outputFile: '.vitest-faults-report.json' }]],
  },
});
