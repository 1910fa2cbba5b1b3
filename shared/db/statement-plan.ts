/** `DATABASE_PREPARED_STATEMENTS`. */
export type PreparedStatementsSetting = 'auto' | 'on' | 'off';

/** What one connection says about itself: the process id it was told at connect, and its backend's. */
export interface ConnectionIdentity {
  /** The process id of the server's BackendKeyData message (a pooler sends its own). */
  announced: number | null;
  /** `pg_backend_pid()`: the Postgres process that ran the query. */
  backend: number;
}

/** Whether a pool names its hot statements, and why. */
export interface StatementDecision {
  named: boolean;
  reason: string;
}

// PgBouncer's default port, and Supabase's transaction-mode pooler (its session mode is 5432).
const POOLER_PORTS = new Set(['6432', '6543']);

/** A pooler known from the URL alone (its port or host), or `undefined`. */
export function poolerAddress(url: string): string | undefined {
  const u = new URL(url);
  if (POOLER_PORTS.has(u.port)) return `port ${u.port} is a pooler's`;
  if (u.hostname.toLowerCase().endsWith('.pooler.supabase.com')) {
    return `host ${u.hostname} is Supabase's pooler`;
  }
  return undefined;
}

/**
 * Whether a connection was answered by a pooler: Postgres announces its backend's own process
 * id at connect (BackendKeyData); PgBouncer and Supavisor announce a key of their own, since the
 * backend behind the client changes. Any pooler, whatever its mode.
 */
export const answeredByPooler = (identity: ConnectionIdentity): boolean =>
  identity.announced !== identity.backend;

/**
 * One pool's use of named prepared statements (`DATABASE_PREPARED_STATEMENTS`), decided once:
 * `on` and `off` as set; `auto` is `off` behind a pooler known by its address, else decided by
 * the first connection that needs it ({@link answeredByPooler}). A transaction-mode pooler hands
 * each transaction whichever server connection is free, so a statement prepared on one is
 * missing on the next (PgBouncer before 1.21, Supavisor): unnamed statements are planned every
 * time, and work everywhere.
 */
export class StatementPlan {
  readonly setting: PreparedStatementsSetting;
  #decision: StatementDecision | undefined;
  #pending: Promise<StatementDecision> | undefined;

  constructor(setting: PreparedStatementsSetting, url: string) {
    this.setting = setting;
    if (setting !== 'auto') {
      this.#decision = {
        named: setting === 'on',
        reason: `DATABASE_PREPARED_STATEMENTS=${setting}`,
      };
      return;
    }
    const address = poolerAddress(url);
    if (address) this.#decision = { named: false, reason: `auto: ${address}` };
  }

  /** The decision when it is known without a round trip. */
  get known(): StatementDecision | undefined {
    return this.#decision;
  }

  /** The decision, asking `identify` (one connection's identity) the first time `auto` needs it. */
  decide(identify: () => Promise<ConnectionIdentity>): Promise<StatementDecision> {
    if (this.#decision) return Promise.resolve(this.#decision);
    if (!this.#pending) {
      const pending = identify().then((identity) => {
        const pooled = answeredByPooler(identity);
        this.#decision = {
          named: !pooled,
          reason: pooled
            ? 'auto: a pooler answered (the announced process id is not the backend)'
            : 'auto: Postgres answered directly',
        };
        return this.#decision;
      });
      this.#pending = pending;
      // A failed probe (the connection lost) decides nothing: the next query asks again.
      pending.catch(() => {
        if (this.#pending === pending) this.#pending = undefined;
      });
    }
    return this.#pending;
  }
}
