import type { ModelError } from './model-error.ts';

/**
 * The local model failed and the frontier model was not asked because the request's user is
 * past their daily budget: the request is answered as if no frontier model were configured.
 * The generation's row records `fallback_reason = 'budget'`.
 */
export class FrontierBudgetError extends Error {
  constructor(cause: ModelError) {
    super(
      `${cause.message}; the frontier fallback was not used because this user is past their daily budget (local model only until the budget day resets)`,
      { cause },
    );
    this.name = 'FrontierBudgetError';
  }
}
