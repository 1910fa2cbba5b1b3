import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type DialectAdapter,
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  type RawBuilder,
  sql,
} from 'kysely';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import { fromStore } from '../errors/store-unreachable.ts';
import type { Logger } from '../log/logger.ts';
import type { Database } from './database.ts';
import {
  type ConnectionIdentity,
  type PreparedStatementsSetting,
  StatementPlan,
} from './statement-plan.ts';

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

/** The input of a {@link copyFrom} statement, sent as its one parameter. */
class CopyInput {
  readonly data: Buffer;
  constructor(data: Buffer) {
    this.data = data;
  }
}

/**
 * `COPY <target> FROM STDIN (<options>)` with `data` as its input, as a kysely statement: it
 * runs on whichever connection executes it, inside a transaction too, and plugins see it. E.g.
 * `copyFrom(sql\`telemetry (ping_id, ts)\`, pgCopyRows(columns)).execute(trx)`. `target` names
 * the table and columns and holds no values. Only through {@link createDb}'s pool.
 */
export function copyFrom(
  target: RawBuilder<unknown>,
  data: Buffer,
  options = 'FORMAT binary',
): RawBuilder<never> {
  // The input travels as a trailing `$1` that the pool's client strips and streams instead.
  return sql<never>`COPY ${target} FROM STDIN (${sql.raw(options)}) ${new CopyInput(data)}`;
}

const tagged = <T>(result: T): T =>
  result instanceof Promise
    ? (result.catch((error: unknown) => {
        throw fromStore(error, 'postgres');
      }) as T)
    : result;

/**
 * A `pg` client whose failures say they came from Postgres ({@link fromStore}): a refused or
 * reset connection is then known to be the database's, not a model server's.
 */
class StoreClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloads, passed through as they are.
  override connect(callback?: any): any {
    return callback === undefined ? tagged(super.connect()) : super.connect(callback);
  }

  // biome-ignore lint/suspicious/noExplicitAny: pg's overloads, passed through as they are.
  override query(config: any, values?: any, callback?: any): any {
    return tagged(super.query(config, values, callback));
  }
}

/** A pool whose `connect()` failures (refused, timed out) say they came from Postgres. */
class StorePool extends pg.Pool {
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloads, passed through as they are.
  override connect(callback?: any): any {
    return callback === undefined ? tagged(super.connect()) : super.connect(callback);
  }
}

/**
 * A `pg` client that runs the texts marked by {@link preparedStatement} as named statements
 * when its pool's {@link StatementPlan} says so (unnamed otherwise), and streams the input of
 * {@link copyFrom} statements.
 */
class PreparingClient extends StoreClient {
  readonly #plan: StatementPlan;

  // The pool passes its options, `statementPlan` among them; a client made otherwise names them.
  constructor(config?: pg.ClientConfig & { statementPlan?: StatementPlan }) {
    super(config);
    this.#plan = config?.statementPlan ?? new StatementPlan('on', '');
  }

  // biome-ignore lint/suspicious/noExplicitAny: pg's overloads, passed through as they are.
  override query(config: any, values?: any, callback?: any): any {
    if (
      typeof config === 'string' &&
      Array.isArray(values) &&
      values.length === 1 &&
      values[0] instanceof CopyInput &&
      config.endsWith(' $1') &&
      callback === undefined
    ) {
      return tagged(this.#copy(config.slice(0, -3), values[0].data));
    }
    const name = typeof config === 'string' ? preparedNames.get(config) : undefined;
    if (name === undefined || typeof values === 'function' || callback !== undefined) {
      return super.query(config, values, callback);
    }
    const named = { name, text: config, values };
    const known = this.#plan.known;
    if (known) return known.named ? super.query(named) : super.query(config, values);
    return tagged(
      this.#plan
        .decide(() => this.#identify())
        .then((decision) => (decision.named ? super.query(named) : super.query(config, values))),
    );
  }

  async #identify(): Promise<ConnectionIdentity> {
    const { rows } = await super.query('SELECT pg_backend_pid() AS pid');
    // pg keeps the BackendKeyData's process id on the client; its types do not declare it.
    const announced = (this as unknown as { processID: number | null }).processID;
    return { announced, backend: rows[0].pid };
  }

  async #copy(text: string, data: Buffer): Promise<pg.QueryResult> {
    const stream = super.query(copyFromStdin(text));
    await pipeline(Readable.from([data]), stream);
    return { command: 'COPY', rowCount: stream.rowCount, rows: [], fields: [], oid: 0 };
  }
}

/** Kysely's migration lock id, kept: a migrator of an older lowburn and this one exclude each other. */
export const MIGRATION_LOCK = 3853314791062309107n;

/**
 * Kysely's Postgres adapter with a migration lock that holds behind a transaction-mode pooler.
 * Kysely's own is a session lock (`pg_advisory_lock`) taken before the migrations' transaction:
 * through a pooler it lands on one server connection, the migrations on another, and it stays
 * held there. This one is `pg_advisory_xact_lock` inside the migrations' transaction, released
 * by its end; `migrate.ts` always hands the migrator a transaction (and takes the lock first).
 */
class TransactionLockAdapter extends PostgresAdapter {
  override async acquireMigrationLock(db: Kysely<unknown>): Promise<void> {
    await sql`SELECT pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK)})`.execute(db);
  }

  override async releaseMigrationLock(): Promise<void> {
    // The transaction's end releases it.
  }
}

class LowburnDialect extends PostgresDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionLockAdapter();
  }
}

const lost = (log: Logger | undefined) => (error: Error) => {
  log?.warn({ err: error }, 'postgres connection lost; the query in flight fails');
};

/**
 * A connection of its own, outside the pool, for work that holds one for long (the export's
 * `COPY` into DuckDB, `lowburn query`). Like the pool's clients it has an `error` listener: a
 * connection Postgres drops (a restart, a killed backend) fails the query in flight instead of
 * crashing the process with an unhandled 'error' event. Connect it with `client.connect()`.
 */
export function createClient(options: {
  url: string;
  applicationName: string;
  log?: Logger;
}): pg.Client {
  const client = new StoreClient({
    connectionString: options.url,
    application_name: options.applicationName,
  });
  client.on('error', lost(options.log));
  return client;
}

/** {@link createClient}, connected. */
export async function connectClient(
  options: Parameters<typeof createClient>[0],
): Promise<pg.Client> {
  const client = createClient(options);
  await client.connect();
  return client;
}

/**
 * Creates the kysely instance over a `pg` pool. Every client has an `error` listener, so a lost
 * connection (Postgres restart, network blip), idle or in use, never crashes the process: the
 * query in flight fails, the next one reconnects, and jobs retry.
 */
export function createDb(options: {
  url: string;
  poolMax?: number;
  log: Logger;
  applicationName?: string;
  /** `DATABASE_PREPARED_STATEMENTS`. @defaultValue 'auto' */
  preparedStatements?: PreparedStatementsSetting;
}): { db: Db; pool: pg.Pool; statements: StatementPlan } {
  const statements = new StatementPlan(options.preparedStatements ?? 'auto', options.url);
  const poolConfig: pg.PoolConfig & { statementPlan: StatementPlan } = {
    // Handed to every client the pool creates (pg passes the pool's options on).
    statementPlan: statements,
    Client: PreparingClient,
    connectionString: options.url,
    max: options.poolMax ?? 10,
    application_name: options.applicationName ?? 'lowburn',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  };
  const pool = new StorePool(poolConfig);
  // A connection Postgres drops (a restart, a failover, a killed backend) makes its client emit
  // 'error'. The pool listens only while a client is idle; one in use — inside a transaction,
  // say — had no listener, and the event crashed the process. Every client gets its own: the
  // query in flight fails (the job retries) and the pool replaces the connection.
  pool.on('connect', (client) => {
    client.on('error', lost(options.log));
  });
  // The client's listener above has logged it already.
  pool.on('error', () => {});
  return {
    db: new Kysely<Database>({ dialect: new LowburnDialect({ pool }) }),
    pool,
    statements,
  };
}
