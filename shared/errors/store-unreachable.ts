import { sqlState } from './sql-state.ts';

// What Redis (ioredis), Postgres (pg) and a socket say when a store cannot be reached or answers
// too late.
const UNREACHABLE =
  /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection terminated|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/i;

/**
 * True when `error` means a store (Postgres, Redis) could not be reached: the work is fine and
 * should simply run again later. Anything else is the work's own failure (or a bug), which must
 * not be retried as if the store were to blame.
 */
export function isStoreUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  const code = sqlState(error) ?? '';
  // SQLSTATE class 08 (connection exception), admin shutdown, cannot connect now.
  if (code.startsWith('08') || code === '57P01' || code === '57P03') {
    return true;
  }
  return UNREACHABLE.test(error.message);
}
