import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb } from '../shared/db/create-db.ts';
import { migrateUp } from '../shared/db/migrate.ts';
import { createLogger } from '../shared/log/logger.ts';
import { TEMPLATE_DATABASE, withDatabase } from './fixtures/database-urls.ts';
import { resolveServices } from './fixtures/services.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    /** True under `npm run test:cluster`: `redisUrl` is a seed node of a Redis Cluster. */
    redisCluster: boolean;
  }
}

/**
 * Once per run: find (or start) Postgres and Redis, and migrate a template database that every
 * test file clones (`CREATE DATABASE … TEMPLATE` takes milliseconds; migrating takes longer).
 */
export default async function setup(project: TestProject) {
  const services = await resolveServices(process.env);
  const admin = new pg.Client({ connectionString: services.databaseUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  const { db } = createDb({
    url: withDatabase(services.databaseUrl, TEMPLATE_DATABASE),
    poolMax: 1,
    log: createLogger({ level: 'silent' }),
  });
  try {
    await migrateUp(db);
  } finally {
    await db.destroy();
  }
  project.provide('databaseUrl', services.databaseUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('redisCluster', false);
  return () => services.stop();
}
