import { sql } from 'kysely';
import type pg from 'pg';
import type { Logger } from '../log/logger.ts';
import type { Db } from './create-db.ts';
import { answeredByPooler, type ConnectionIdentity, type StatementPlan } from './statement-plan.ts';

/** Connections the fleet opens besides its processes' pools: the board's 4, the export's 2. */
export const OTHER_CONNECTIONS = 4 + 2;

/** The fleet's planned Postgres connections against what the server allows. */
export interface ConnectionBudget {
  poolMax: number;
  fleetProcesses: number;
  /** `poolMax × fleetProcesses + OTHER_CONNECTIONS`. */
  planned: number;
  /** The server's `max_connections`, less `superuser_reserved_connections`. */
  available: number;
  maxConnections: number;
  /** A pooler answered: the server's connections are the pooler's to open, not the fleet's. */
  behindPooler: boolean;
  /** Whether the pool names its hot statements, and why. */
  namedStatements: boolean;
  statementsReason: string;
}

/**
 * Reads the server's `max_connections` (through one of the pool's connections) and sets it
 * against the fleet's plan: `DATABASE_POOL_MAX` × `DATABASE_FLEET_PROCESSES`, plus the board's
 * pool and the export's own two connections. Also settles `auto` prepared statements.
 */
export async function readConnectionBudget(
  db: Db,
  pool: pg.Pool,
  statements: StatementPlan,
  plan: { poolMax: number; fleetProcesses: number },
): Promise<ConnectionBudget> {
  // Through kysely first: its driver ends the pool on destroy() only once it has used it.
  const { rows } = await sql<{ max_connections: number; reserved: number }>`
    SELECT current_setting('max_connections')::int AS max_connections,
           current_setting('superuser_reserved_connections')::int AS reserved`.execute(db);
  const settings = rows[0] as { max_connections: number; reserved: number };
  const identity = await identify(pool);
  const decision = await statements.decide(async () => identity);
  return {
    poolMax: plan.poolMax,
    fleetProcesses: plan.fleetProcesses,
    planned: plan.poolMax * plan.fleetProcesses + OTHER_CONNECTIONS,
    available: settings.max_connections - settings.reserved,
    maxConnections: settings.max_connections,
    behindPooler: answeredByPooler(identity),
    namedStatements: decision.named,
    statementsReason: decision.reason,
  };
}

/** One of the pool's connections: the process id it was told at connect, and its backend's. */
async function identify(pool: pg.Pool): Promise<ConnectionIdentity> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    // pg keeps the BackendKeyData's process id on the client; its types do not declare it.
    const announced = (client as unknown as { processID: number | null }).processID;
    return { announced, backend: (rows[0] as { pid: number }).pid };
  } finally {
    client.release();
  }
}

/**
 * The worker's boot check: logs the budget, and warns when the fleet's planned connections
 * would pass what the server allows (a pool that cannot open a connection waits, then fails
 * its query: jobs retry, the API answers 503). Behind a pooler the server's connections are
 * the pooler's pool size; the plan is then what its `max_client_conn` must allow.
 * @returns the budget, or `undefined` when Postgres could not be asked (logged; never fatal).
 */
export async function checkConnectionBudget(
  db: Db,
  pool: pg.Pool,
  statements: StatementPlan,
  plan: { poolMax: number; fleetProcesses: number },
  log: Logger,
): Promise<ConnectionBudget | undefined> {
  let budget: ConnectionBudget;
  try {
    budget = await readConnectionBudget(db, pool, statements, plan);
  } catch (error) {
    log.warn({ err: error }, 'could not read max_connections; the connection budget is unchecked');
    return undefined;
  }
  log.info(budget, 'postgres connection budget');
  if (budget.behindPooler) {
    log.info(
      `behind a pooler: the fleet's ${budget.planned} client connections must fit its max_client_conn; ` +
        'the server connections are its pool size',
    );
  } else if (budget.planned > budget.available) {
    log.warn(
      budget,
      `the fleet's planned Postgres connections (DATABASE_POOL_MAX ${budget.poolMax} × DATABASE_FLEET_PROCESSES ${budget.fleetProcesses} + ${OTHER_CONNECTIONS} for the board and the export = ${budget.planned}) pass the server's max_connections less its reserved ones (${budget.available}): lower DATABASE_POOL_MAX, raise max_connections, or put a pooler in front (README, "Past one box")`,
    );
  }
  return budget;
}
