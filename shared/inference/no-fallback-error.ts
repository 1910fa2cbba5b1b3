import { FrontierBudgetError } from './frontier-budget-error.ts';
import { ModelError } from './model-error.ts';

/** The local model failed and no frontier fallback is configured. */
export class NoFallbackError extends Error {
  constructor(cause: ModelError) {
    super(
      `${cause.message}, and no frontier fallback is configured (set FRONTIER_URL and FRONTIER_API_KEY to fall back to a paid model)`,
      { cause },
    );
    this.name = 'NoFallbackError';
  }
}

/**
 * True when no model could be reached for a request: the server that was asked refused or
 * dropped the connection, and no other model answered (none is configured, or it is down too).
 * A model that answered badly or slowly is not this: that is the request's own failure. A user
 * past their budget, for whom the frontier model is off, is in the first case too.
 */
export function isNoModelReachable(error: unknown): boolean {
  const failure =
    error instanceof NoFallbackError || error instanceof FrontierBudgetError ? error.cause : error;
  return failure instanceof ModelError && failure.unreachable;
}
