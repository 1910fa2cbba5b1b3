/**
 * A key's name or scopes are not acceptable. The message says what to change; `field` names the
 * input so a caller (the CLI, the admin API) can point at it.
 */
export class InvalidApiKeyInputError extends Error {
  readonly field: 'name' | 'scopes' | 'cacheScope';

  constructor(field: 'name' | 'scopes' | 'cacheScope', message: string) {
    super(message);
    this.name = 'InvalidApiKeyInputError';
    this.field = field;
  }
}
