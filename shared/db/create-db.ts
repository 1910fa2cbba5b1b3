import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from '../log/logger.ts';
import type { Database } from './database.ts';

// `date` as the plain `YYYY-MM-DD` it is: pg's default turns it into a local-midnight Date,
// which shifts the day in any time zone west of UTC.
pg.types.setTypeParser(pg.types.builtins.DATE, (text) => text);

export type Db = Kysely<Database>;

// SQL texts that run as named prepared statements, with their names.
const preparedNames = new Map<string, string>();

/**
 * Marks a fixed SQL text (its parameters as `$1`…, never inlined values) as a prepared
 * statement: every pool connection parses and plans it once, then only binds and executes it.
 * For hot statements whose planning costs more than running them (the webhook ledger's batched
 * `UNNEST` statements: ~1 ms of planning each). Run it as usual, e.g. `CompiledQuery.raw(text,
 * parameters)`; the text must not change.
 * @returns `text`
 */
export function preparedStatement(name: string, text: string): string {
  const known = preparedNames.get(text);
  if (known !== undefined && known !== name) {
    throw new Error(`the statement is prepared as ${known} already, not ${name}`);
  }
  preparedNames.set(text, name);
  return text;
}

/** A `pg` client that runs the texts marked by {@link preparedStatement} as named statements. */
class PreparingClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloads, passed through as they are.
  override query(config: any, values?: any, callback?: any): any {
    const name = typeof config === 'string' ? preparedNames.get(config) : undefined;
    if (name === undefined || typeof values === 'function' || callback !== undefined) {
      return super.query(config, values, callback);
    }
    return super.query({ name, text: config, values });
  }
}

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
    Client: PreparingClient,
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
