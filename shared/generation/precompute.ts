import { createHash } from 'node:crypto';
import type { Route } from '../inference/providers.ts';

/**
 * BullMQ priority of the precompute's `generate` jobs. Live requests carry none, and BullMQ
 * takes jobs without a priority before any prioritized one, so a request made during the
 * precompute starts before the precompute's remaining work.
 */
export const PRECOMPUTE_PRIORITY = 1_000;

/** What one precompute `generate` job returns (its BullMQ return value). */
export type PrecomputeAnswer =
  | {
      status: 'generated';
      route: Route;
      model: string;
      tokensIn: number;
      tokensOut: number;
      costUsd: number;
      /** Entered in the semantic index too. */
      semantic: boolean;
    }
  /** The model answered, and the answer failed validation: nothing was stored. */
  | { status: 'invalid'; reason: string }
  /** No answer: the model failed, timed out or could not be reached. */
  | { status: 'failed'; reason: string };

/**
 * The job id of one key's precompute on one night: a run killed and run again (or two runs the
 * same night) adds the same job, which BullMQ keeps once, so a key is answered once a night.
 */
export function precomputeJobId(night: string, namespace: string, key: string): string {
  const hash = createHash('sha256').update(`${namespace}\0${key}`).digest('hex').slice(0, 32);
  return `precompute.${night}.${hash}`;
}
