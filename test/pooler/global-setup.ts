import type { TestProject } from 'vitest/node';
import { startPgbouncer } from '../fixtures/pgbouncer.ts';
import setup from '../global-setup.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `npm run test:pooler`: the Postgres behind the pooler, for what must bypass it. */
    directDatabaseUrl: string;
  }
}

/**
 * `npm run test:pooler`: the usual setup (services, the migrated template, made directly), then
 * a PgBouncer in transaction mode in front of Postgres: every test gets the pooler's URL as its
 * `databaseUrl`, so its pools, its spawned workers and its admin statements all go through it.
 */
export default async function poolerSetup(project: TestProject) {
  const teardown = await setup(project);
  const direct = project.getProvidedContext().databaseUrl;
  const bouncer = await startPgbouncer(direct);
  project.provide('databaseUrl', bouncer.url);
  project.provide('directDatabaseUrl', direct);
  return async () => {
    await bouncer.stop();
    await teardown();
  };
}
