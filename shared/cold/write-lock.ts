import type pg from 'pg';
import { COLD_WRITE_LOCK } from './layout.ts';

/** The cold store's write lock, held by one `export-cold` or `apply-erasures` run at a time. */
export interface ColdWriteLock {
  /** Throws when the lock's connection was lost: another run may hold the lock now. */
  check(): void;
  /** Ends the lock's transaction and connection. */
  release(): Promise<void>;
}

/**
 * Takes {@link COLD_WRITE_LOCK}: `pg_try_advisory_xact_lock` in a transaction left open on a
 * connection of its own until the run ends. A session lock (`pg_try_advisory_lock`) would break
 * behind a transaction-mode pooler — it stays on whichever server connection ran it, held after
 * the run for whoever gets that connection next — while an open transaction keeps its server
 * connection everywhere, and a crashed writer still releases the lock with its connection
 * (Postgres, or the pooler, ends the transaction). It writes nothing and, at READ COMMITTED,
 * holds no snapshot between statements, so it holds back no VACUUM.
 *
 * @param holder names the run in the error `check` throws (`export-cold`, `apply-erasures`).
 * @returns `undefined` when another run holds the lock.
 */
export async function takeColdWriteLock(
  connect: () => Promise<pg.Client>,
  holder: string,
): Promise<ColdWriteLock | undefined> {
  const client = await connect();
  let lost = false;
  client.once('end', () => {
    lost = true;
  });
  let ok = false;
  try {
    await client.query('BEGIN');
    const locked = await client.query('SELECT pg_try_advisory_xact_lock($1) AS ok', [
      COLD_WRITE_LOCK,
    ]);
    ok = locked.rows[0].ok === true;
  } finally {
    if (!ok) client.end().catch(() => {});
  }
  if (!ok) return undefined;
  return {
    check() {
      if (lost) {
        throw new Error(
          `${holder} lost the connection that held the cold store's write lock; what is left waits for the next run`,
        );
      }
    },
    async release() {
      await client.query('COMMIT').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}
