import type { Db } from '../db/create-db.ts';
import type { RedisClient } from '../redis/connections.ts';
import type { Erasure } from './ledger.ts';

/** What a check may read. */
export interface VerifyContext {
  db: Db;
  redis: RedisClient;
  /** The queue prefix: caches live under it. */
  prefix: string;
  /** `SECRETS_KEY`'s bytes: the ledger's digests and user hash are keyed by it. */
  secretsKey: Buffer;
}

/** The erasure being verified, with whom it erased (when the ledger or the operator knows). */
export interface ErasureUnderCheck extends Erasure {
  /** The ledger's `user_id`, or the id the operator gave for a `done` erasure (hash-checked). */
  subjectUserId: string | undefined;
}

/** Something of the erased user's still stored: where, and how much. */
export interface Remaining {
  /** The check that found it. */
  check: string;
  /** Where: a table and day, a cache layer, a file… */
  place: string;
  rows: number;
  /** Why it may still be there (e.g. a partition the export is holding). */
  note?: string;
}

/**
 * One place an erasure must have emptied. The hot side's checks are {@link hotChecks}; the cold
 * side adds its own (cold files, fine-tune sets) by passing a longer list.
 */
export interface ErasureCheck {
  name: string;
  /** What remains; `[]` when the place holds nothing of the user. */
  run(ctx: VerifyContext, erasure: ErasureUnderCheck): Promise<Remaining[]>;
}

/** Thrown by a check that cannot run for this erasure; reported as skipped, not as clean. */
export class CheckSkipped extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CheckSkipped';
  }
}

/** The subject's user id, or a {@link CheckSkipped} saying how to give it. */
export function requireSubject(erasure: ErasureUnderCheck): string {
  if (erasure.subjectUserId !== undefined) return erasure.subjectUserId;
  throw new CheckSkipped('the ledger no longer names the user (done); give their id to check');
}
