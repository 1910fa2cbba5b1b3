/** The input a {@link InvalidApiKeyInputError} is about. */
export type InvalidApiKeyField =
  | 'name'
  | 'scopes'
  | 'cacheScope'
  | 'dailyBudgetUsd'
  | 'dailyBudgetUsdHard';

/**
 * A key's name, scopes, cache scope or budgets are not acceptable. The message says what to change; `field` names the
 * input so a caller (the CLI, the admin API) can point at it.
 */
export class InvalidApiKeyInputError extends Error {
  readonly field: InvalidApiKeyField;

  constructor(field: InvalidApiKeyField, message: string) {
    super(message);
    this.name = 'InvalidApiKeyInputError';
    this.field = field;
  }
}
