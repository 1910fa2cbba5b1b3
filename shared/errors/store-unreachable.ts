import { sqlState } from './sql-state.ts';

const FROM_STORE = Symbol.for('lowburn.store');

/**
 * Marks `error` as thrown by a store's client (`postgres`: the pool, a client, a query). Only
 * such errors can mean "the store is unreachable": a socket error of a model server or a
 * webhook receiver carries the same codes and words, and must not send a job into a store's
 * outage wait.
 * @returns `error`, for `throw fromStore(error, 'postgres')`
 */
export function fromStore<E>(error: E, store: 'postgres'): E {
  if (error !== null && typeof error === 'object' && !(FROM_STORE in error)) {
    Object.defineProperty(error, FROM_STORE, { value: store, enumerable: false });
  }
  return error;
}

// Node's socket errors (and undici's) for a peer that is gone or never answered.
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// What `pg` throws, verbatim, when its connection is lost or cannot be made.
const PG_CONNECTION_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
]);

// What ioredis rejects a command with, verbatim, while its connection is down. ioredis has no
// error classes for these; its messages are its own constants, compared whole.
const IOREDIS_MESSAGES = new Set([
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
  // A cluster client: before its slot map is read, or with no seed node answering.
  "Cluster isn't ready and enableOfflineQueue options is false",
  'None of startup nodes is available',
  'Failed to refresh slots cache.',
]);

// A cluster client gives up on a command that kept meeting a lost node, MOVED or CLUSTERDOWN
// while a replica takes over (each retry spends a redirection): the store is unreachable for now.
const IOREDIS_CLUSTER_GAVE_UP = 'Too many Cluster redirections. Last error: ';

/**
 * True when `error` means a store (Postgres, Redis) could not be reached: the work is fine and
 * should simply run again later. Decided by where the error came from — ioredis' own errors, a
 * SQLSTATE of Postgres's connection classes, or a socket error that `pg` threw (see
 * {@link fromStore}) — never by searching its text, which a model server's or a receiver's
 * error shares. Anything else is the work's own failure (or a bug).
 */
export function isStoreUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  if (IOREDIS_MESSAGES.has(error.message)) return true;
  if (error.message.startsWith(IOREDIS_CLUSTER_GAVE_UP)) return true;
  const code = sqlState(error) ?? '';
  // SQLSTATE class 08 (connection exception), admin shutdown, cannot connect now.
  if (code.startsWith('08') || code === '57P01' || code === '57P03') return true;
  if (!(FROM_STORE in error)) return false;
  return SOCKET_CODES.has(code) || PG_CONNECTION_MESSAGES.has(error.message);
}
