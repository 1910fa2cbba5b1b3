import {
  CheckSkipped,
  type ErasureCheck,
  type ErasureUnderCheck,
  type Remaining,
  type VerifyContext,
} from './erasure-check.ts';
import { erasureHash } from './erasure-hash.ts';
import { hotChecks } from './hot-checks.ts';
import type { Erasure } from './ledger.ts';

export type { ErasureCheck, ErasureUnderCheck, Remaining, VerifyContext } from './erasure-check.ts';
export { CheckSkipped, requireSubject } from './erasure-check.ts';

export interface VerifyReport {
  erasureId: string;
  status: Erasure['status'];
  /** The checks run, in order. */
  checked: string[];
  /** Checks that could not run, and why (a `done` erasure no longer names its user). */
  skipped: { check: string; reason: string }[];
  remaining: Remaining[];
  /** Nothing remains, and every check ran. */
  clean: boolean;
}

/** The user id given for an erasure whose ledger no longer holds it does not match its hash. */
export class ErasureSubjectMismatchError extends Error {
  constructor(erasureId: string) {
    super(`the user id given is not the one erasure ${erasureId} erased (its keyed hash differs)`);
    this.name = 'ErasureSubjectMismatchError';
  }
}

/**
 * Re-reads every place `checks` name and reports what of the erased user remains: nothing, or
 * exactly where. `userId` is needed only once the erasure is `done` (the ledger then keeps only
 * the keyed hash, which it must match).
 */
export async function verifyErasure(
  ctx: VerifyContext,
  erasure: Erasure,
  options: { checks?: readonly ErasureCheck[]; userId?: string } = {},
): Promise<VerifyReport> {
  let subjectUserId = erasure.userId ?? undefined;
  if (options.userId !== undefined) {
    if (erasureHash(options.userId, ctx.secretsKey) !== erasure.userHash) {
      throw new ErasureSubjectMismatchError(erasure.id);
    }
    subjectUserId = options.userId;
  }
  const subject: ErasureUnderCheck = { ...erasure, subjectUserId };
  const checks = options.checks ?? hotChecks;
  const remaining: Remaining[] = [];
  const skipped: VerifyReport['skipped'] = [];
  const checked: string[] = [];
  for (const check of checks) {
    try {
      remaining.push(...(await check.run(ctx, subject)));
      checked.push(check.name);
    } catch (error) {
      if (!(error instanceof CheckSkipped)) throw error;
      skipped.push({ check: check.name, reason: error.message });
    }
  }
  return {
    erasureId: erasure.id,
    status: erasure.status,
    checked,
    skipped,
    remaining,
    clean: remaining.length === 0 && skipped.length === 0,
  };
}
