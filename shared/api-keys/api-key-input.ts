import type { ApiScope } from '../db/database.ts';
import { type InvalidApiKeyField, InvalidApiKeyInputError } from './invalid-api-key-input-error.ts';

export type { ApiScope };

/** Every scope a key can hold, in the order lowburn stores and prints them. */
export const apiScopes = [
  'generate',
  'telemetry',
  'read',
  'admin',
] as const satisfies readonly ApiScope[];

// Fails to compile if ApiScope gains a member that apiScopes does not list.
const allListed: Exclude<ApiScope, (typeof apiScopes)[number]> extends never ? true : false = true;
void allListed;

export function isApiScope(value: unknown): value is ApiScope {
  return typeof value === 'string' && (apiScopes as readonly string[]).includes(value);
}

/**
 * Parses scopes given as a list or a comma-separated string (`"generate, read"`): at least one,
 * each known. Returns them deduplicated, in {@link apiScopes} order.
 *
 * @throws {@link InvalidApiKeyInputError} naming the unknown scopes and listing the valid ones.
 */
export function parseApiScopes(input: string | readonly string[]): ApiScope[] {
  const given = (typeof input === 'string' ? input.split(',') : [...input])
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const valid = `valid scopes: ${apiScopes.join(', ')}`;
  if (given.length === 0) {
    throw new InvalidApiKeyInputError('scopes', `an API key needs at least one scope; ${valid}`);
  }
  const unknown = given.filter((s) => !isApiScope(s));
  if (unknown.length > 0) {
    throw new InvalidApiKeyInputError(
      'scopes',
      `unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.map((s) => `"${s}"`).join(', ')}; ${valid}`,
    );
  }
  return apiScopes.filter((scope) => given.includes(scope));
}

/**
 * Validates a key's name: 1–100 characters after trimming, no control characters (the name is
 * printed in terminal tables and logs). Returns the trimmed name.
 *
 * @throws {@link InvalidApiKeyInputError}
 */
export function parseApiKeyName(input: string): string {
  const name = input.trim();
  const length = [...name].length;
  if (length < 1 || length > 100) {
    throw new InvalidApiKeyInputError(
      'name',
      `an API key name must be 1 to 100 characters (got ${length})`,
    );
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw new InvalidApiKeyInputError(
      'name',
      'an API key name cannot contain control characters (newlines, tabs, escapes)',
    );
  }
  return name;
}

const CACHE_SCOPE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Validates a cache scope name (`prod-app`, `acme.staging`): lower-case letters, digits, `.`,
 * `_` and `-`, at most 64. `undefined` or empty: the key gets a scope of its own.
 *
 * @throws {@link InvalidApiKeyInputError}
 */
export function parseCacheScope(input: string | undefined): string | undefined {
  const scope = input?.trim();
  if (!scope) return undefined;
  if (!CACHE_SCOPE.test(scope)) {
    throw new InvalidApiKeyInputError(
      'cacheScope',
      `a cache scope is 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit (got "${scope}")`,
    );
  }
  return scope;
}

/**
 * Checks a key's budget overrides (`lowburn keys budget`): each a finite USD amount ≥ 0, or
 * `null` to clear it; a hard budget below the soft one given with it is refused. Returns the
 * columns to set (levels left `undefined` are not touched).
 *
 * @throws {@link InvalidApiKeyInputError}
 */
export function parseBudgetOverrides(budgets: {
  dailyUsd?: number | null;
  dailyHardUsd?: number | null;
}): { daily_budget_usd?: number | null; daily_budget_usd_hard?: number | null } {
  const check = (field: InvalidApiKeyField, usd: number | null | undefined) => {
    if (usd == null || (Number.isFinite(usd) && usd >= 0 && usd <= 1_000_000)) return;
    throw new InvalidApiKeyInputError(
      field,
      `a daily budget is an amount of USD from 0 to 1000000, or "none" to use the setting (got ${usd})`,
    );
  };
  check('dailyBudgetUsd', budgets.dailyUsd);
  check('dailyBudgetUsdHard', budgets.dailyHardUsd);
  const { dailyUsd: soft, dailyHardUsd: hard } = budgets;
  if (soft != null && hard != null && hard < soft) {
    throw new InvalidApiKeyInputError(
      'dailyBudgetUsdHard',
      `the hard daily budget ($${hard}) is below the soft one ($${soft}); the soft one would never apply`,
    );
  }
  return {
    ...(soft !== undefined && { daily_budget_usd: soft }),
    ...(hard !== undefined && { daily_budget_usd_hard: hard }),
  };
}
