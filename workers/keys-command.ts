import { type Command, InvalidArgumentError } from 'commander';
import {
  apiScopes,
  parseApiKeyName,
  parseApiScopes,
  parseBudgetOverrides,
  parseCacheScope,
} from '../shared/api-keys/api-key-input.ts';
import type { ApiKeySummary, CreatedApiKey } from '../shared/api-keys/api-keys.ts';
import { InvalidApiKeyInputError } from '../shared/api-keys/invalid-api-key-input-error.ts';
import { withDb } from './cli-clients.ts';
import { processKeyring } from './process.ts';
import { renderTable } from './text-table.ts';

/**
 * Adds `lowburn keys create | list | revoke | budget`. The key and webhook secret are printed once, at
 * creation: lowburn keeps only the key's hash.
 */
export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys');

  keys
    .command('create')
    .description('create an API key and print it (and its webhook secret) once')
    .requiredOption('--name <name>', 'who the key is for, 1-100 characters')
    .requiredOption('--scopes <list>', `comma-separated, from: ${apiScopes.join(', ')}`)
    .option(
      '--cache-scope <name>',
      'keys created with the same scope share cached answers (default: a scope of its own)',
    )
    .option('--json', 'print one JSON object, for scripts')
    .action(async (opts: { name: string; scopes: string; cacheScope?: string; json?: boolean }) => {
      // Checked before connecting, so a typo fails fast with exit code 2.
      const input = asArgumentError(() => ({
        name: parseApiKeyName(opts.name),
        scopes: parseApiScopes(opts.scopes),
        cacheScope: parseCacheScope(opts.cacheScope),
      }));
      const created = await withDb(
        'keys',
        async (db, { config, log }) => {
          const { createApiKey } = await import('../shared/api-keys/api-keys.ts');
          return createApiKey(db, input, processKeyring(config, log));
        },
        'keys create',
      );
      console.log(opts.json ? JSON.stringify(created) : describeCreated(created));
    });

  keys
    .command('list')
    .description('list API keys (prefix, scopes, last use; never the keys themselves)')
    .option('--json', 'print a JSON array, for scripts')
    .action(async (opts: { json?: boolean }) => {
      const list = await withDb('keys', async (db) => {
        const { listApiKeys } = await import('../shared/api-keys/api-keys.ts');
        return listApiKeys(db);
      });
      console.log(opts.json ? JSON.stringify(list) : renderKeys(list));
    });

  keys
    .command('revoke')
    .description('revoke an API key; requests with it fail within seconds')
    .argument('<id-or-prefix>', 'the key id, or its prefix as listed (lb_xxxxxxxx)')
    .action(async (idOrPrefix: string) => {
      const revoked = await withDb('keys', async (db) => {
        const { revokeApiKey } = await import('../shared/api-keys/api-keys.ts');
        return revokeApiKey(db, idOrPrefix);
      });
      if (revoked) {
        console.log(`revoked ${idOrPrefix}`);
      } else {
        process.stderr.write(`lowburn: no API key with id or prefix "${idOrPrefix}"\n`);
        process.exitCode = 1;
      }
    });

  registerBudgetCommand(keys);
}

/** `--daily 0.5` / `--daily none`: a budget in USD, or `null` to use the setting again. */
function budgetArgument(value: string): number | null {
  if (value.trim().toLowerCase() === 'none') return null;
  const usd = Number(value);
  if (value.trim() === '' || !Number.isFinite(usd)) {
    throw new InvalidArgumentError(`"${value}" is not an amount of USD (like 0.5) or "none"`);
  }
  return usd;
}

function registerBudgetCommand(keys: Command): void {
  keys
    .command('budget')
    .description(
      "set or clear an API key's per-user daily budgets (overriding USER_DAILY_BUDGET_USD / _HARD)",
    )
    .argument('<id-or-prefix>', 'the key id, or its prefix as listed (lb_xxxxxxxx)')
    .option('--daily <usd>', 'soft budget: past it, local model only; "none": use the setting')
    .option('--hard <usd>', 'hard budget: past it, 429; "none": use the setting')
    .action(async (idOrPrefix: string, opts: { daily?: string; hard?: string }) => {
      if (opts.daily === undefined && opts.hard === undefined) {
        throw new InvalidArgumentError('give --daily <usd|none>, --hard <usd|none>, or both');
      }
      const budgets = {
        ...(opts.daily !== undefined && { dailyUsd: budgetArgument(opts.daily) }),
        ...(opts.hard !== undefined && { dailyHardUsd: budgetArgument(opts.hard) }),
      };
      asArgumentError(() => parseBudgetOverrides(budgets));
      const found = await withDb('keys', async (db) => {
        const { setApiKeyBudgets } = await import('../shared/api-keys/api-keys.ts');
        return setApiKeyBudgets(db, idOrPrefix, budgets);
      });
      if (!found) {
        process.stderr.write(`lowburn: no API key with id or prefix "${idOrPrefix}"\n`);
        process.exitCode = 1;
        return;
      }
      const shown = (usd: number | null | undefined) =>
        usd === undefined ? 'unchanged' : usd === null ? 'the setting' : `$${usd}`;
      console.log(
        `budgets of ${idOrPrefix}: daily ${shown(budgets.dailyUsd)}, hard ${shown(budgets.dailyHardUsd)} (the API applies them within API_KEY_CACHE_TTL)`,
      );
    });
}

function asArgumentError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InvalidApiKeyInputError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

function describeCreated(key: CreatedApiKey): string {
  return [
    `Created API key "${key.name}" (id ${key.id}, prefix ${key.prefix}, scopes ${key.scopes.join(', ')}${key.cacheScope === key.id ? '' : `, cache scope ${key.cacheScope}`}).`,
    '',
    `  API key:         ${key.key}`,
    `  Webhook secret:  ${key.webhookSecret}`,
    '',
    'Copy both now: they are NOT shown again (lowburn keeps only a hash of the key).',
    'Send the key as "Authorization: Bearer <key>"; verify webhooks with the secret (Standard Webhooks).',
  ].join('\n');
}

/** `$0.5/$2` (soft/hard), `-` for a level that follows the setting. */
function budgets(k: ApiKeySummary): string {
  if (k.dailyBudgetUsd === null && k.dailyBudgetUsdHard === null) return '-';
  const usd = (v: number | null) => (v === null ? '-' : `$${v}`);
  return `${usd(k.dailyBudgetUsd)}/${usd(k.dailyBudgetUsdHard)}`;
}

function renderKeys(list: ApiKeySummary[]): string {
  if (list.length === 0) return 'no API keys; create one with `lowburn keys create`';
  const time = (d: Date | null) => (d ? d.toISOString().slice(0, 19).replace('T', ' ') : '-');
  const rows = [
    ['PREFIX', 'NAME', 'SCOPES', 'BUDGETS', 'CREATED (UTC)', 'LAST USED', 'STATUS', 'ID'],
    ...list.map((k) => [
      k.prefix,
      k.name,
      k.scopes.join(','),
      budgets(k),
      time(k.createdAt),
      time(k.lastUsedAt),
      k.revokedAt ? `revoked ${time(k.revokedAt)}` : 'active',
      k.id,
    ]),
  ];
  return renderTable(rows);
}
