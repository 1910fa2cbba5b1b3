import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from '../log/logger.ts';
import type { Database } from './database.ts';

// `date` as the plain `YYYY-MM-DD` it is: pg's default turns it into a local-midnight Date,
// which shifts the day in any time zone west of UTC.
pg.types.setTypeParser(pg.types.builtins.DATE, (text) => text);

export type Db = Kysely<Database>;

/**
 * Creates the kysely instance over a `pg` pool. The pool's `error` listener keeps an idle
 * client's lost connection (Postgres restart, network blip) from crashing the process:
 * the next query reconnects and jobs retry.
 */
export function createDb(options: {
  url: string;
  poolMax?: number;
  log: Logger;
  applicationName?: string;
}): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax ?? 10,
    application_name: options.applicationName ?? 'lowburn',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (error) => {
    options.log.warn({ err: error }, 'postgres idle client error; it will be replaced');
  });
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool };
}
