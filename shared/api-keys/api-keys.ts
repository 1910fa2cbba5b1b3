import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { UpdateQueryBuilder } from 'kysely';
import type { Db } from '../db/create-db.ts';
import type { ApiScope, Database } from '../db/database.ts';
import type { SecretKeyring } from '../secrets/secret-keyring.ts';
import { openWebhookSecret, sealWebhookSecret } from '../secrets/webhook-secret-seal.ts';
import {
  generateApiKey,
  generateWebhookSecret,
  hashApiKey,
  parseApiKey,
} from './api-key-format.ts';
import {
  isApiScope,
  parseApiKeyName,
  parseApiScopes,
  parseBudgetOverrides,
  parseCacheScope,
} from './api-key-input.ts';

/** What a request authenticated by a key knows about it. Never holds the key or its hash. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly ApiScope[];
  /** `lb_` + the key's 8 visible characters: safe to log and show. */
  readonly prefix: string;
  /** Whose cached answers its requests share: a name given at creation, else the key's id. */
  readonly cacheScope: string;
  /** Its users' soft daily budget in USD (`lowburn keys budget`); null: `USER_DAILY_BUDGET_USD`. */
  readonly dailyBudgetUsd: number | null;
  /** Its users' hard daily budget in USD; null: `USER_DAILY_BUDGET_USD_HARD`. */
  readonly dailyBudgetUsdHard: number | null;
}

/** A key just created: the only time `key` and `webhookSecret` are available. */
export interface CreatedApiKey extends ApiKeyRecord {
  key: string;
  webhookSecret: string;
  createdAt: Date;
}

/** A key as listed: no key, hash or webhook secret. */
export interface ApiKeySummary extends ApiKeyRecord {
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STORED_PREFIX = /^lb_[0-9A-Za-z]{8}$/;
const UNIQUE_VIOLATION = '23505';

/**
 * Creates a key with `scopes`. The returned `key` and `webhookSecret` are shown to the user
 * once; lowburn stores only the key's prefix and SHA-256, and the webhook secret (which the
 * worker signs with) sealed under `keyring`'s `SECRETS_KEY`, bound to the new row.
 *
 * @example
 * const { key, webhookSecret } = await createApiKey(db, { name: 'my-app', scopes: ['generate'] }, keyring);
 * @throws {@link InvalidApiKeyInputError} for an empty or long name, no scopes or an unknown one.
 * @throws {@link ConfigError} when `keyring` has no `SECRETS_KEY`.
 */
export async function createApiKey(
  db: Db,
  input: { name: string; scopes: string | readonly string[]; cacheScope?: string | undefined },
  keyring: SecretKeyring,
): Promise<CreatedApiKey> {
  const name = parseApiKeyName(input.name);
  const scopes = parseApiScopes(input.scopes);
  const cacheScope = parseCacheScope(input.cacheScope);
  const webhookSecret = generateWebhookSecret();
  // The id is chosen here, not by the database: the sealed secret is bound to it.
  const id = randomUUID();
  const sealed = sealWebhookSecret(keyring, id, webhookSecret);
  // Two keys share an 8-character prefix once in ~10^14; the unique index turns that into an
  // error, so a new prefix is drawn rather than failing the user.
  for (let attempt = 1; ; attempt++) {
    const { key, prefix } = generateApiKey();
    try {
      const row = await db
        .insertInto('api_keys')
        .values({
          id,
          name,
          prefix,
          key_hash: hashApiKey(key),
          scopes,
          webhook_secret_key_id: sealed.keyId,
          webhook_secret_sealed: sealed.sealed,
          cache_scope: cacheScope ?? null,
        })
        .returning(['id', 'created_at'])
        .executeTakeFirstOrThrow();
      return {
        id: row.id,
        name,
        scopes,
        prefix,
        cacheScope: cacheScope ?? row.id,
        dailyBudgetUsd: null,
        dailyBudgetUsdHard: null,
        key,
        webhookSecret,
        createdAt: row.created_at,
      };
    } catch (error) {
      if (attempt >= 3 || (error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
    }
  }
}

/**
 * The key `presentedKey` authenticates, or `undefined` when it is malformed (rejected without
 * a query), unknown, wrong or revoked. Looks the key up by its prefix and compares SHA-256
 * hashes in constant time.
 */
export async function verifyApiKey(
  db: Db,
  presentedKey: unknown,
): Promise<ApiKeyRecord | undefined> {
  const parsed = parseApiKey(presentedKey);
  if (!parsed) return undefined;
  const row = await db
    .selectFrom('api_keys')
    .select([
      'id',
      'name',
      'scopes',
      'prefix',
      'key_hash',
      'revoked_at',
      'cache_scope',
      'daily_budget_usd',
      'daily_budget_usd_hard',
    ])
    .where('prefix', '=', parsed.prefix)
    .executeTakeFirst();
  // An unknown prefix returns sooner than a wrong secret; that only tells an attacker whether a
  // prefix exists, and prefixes are not secret (they are printed, logged and listed).
  if (!row) return undefined;
  const presented = Buffer.from(hashApiKey(presentedKey as string), 'hex');
  const stored = Buffer.from(row.key_hash, 'hex');
  if (stored.length !== presented.length || !timingSafeEqual(stored, presented)) return undefined;
  if (row.revoked_at !== null) return undefined;
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes.filter(isApiScope),
    prefix: row.prefix,
    cacheScope: row.cache_scope ?? row.id,
    ...budgetsOf(row),
  };
}

/** The key's budget overrides as numbers (numeric columns read as text). */
function budgetsOf(row: { daily_budget_usd: string | null; daily_budget_usd_hard: string | null }) {
  const usd = (value: string | null) => (value === null ? null : Number(value));
  return {
    dailyBudgetUsd: usd(row.daily_budget_usd),
    dailyBudgetUsdHard: usd(row.daily_budget_usd_hard),
  };
}

/** Every key, oldest first, revoked ones included (with `revokedAt`). Never a hash or secret. */
export async function listApiKeys(db: Db): Promise<ApiKeySummary[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select([
      'id',
      'name',
      'scopes',
      'prefix',
      'cache_scope',
      'daily_budget_usd',
      'daily_budget_usd_hard',
      'created_at',
      'last_used_at',
      'revoked_at',
    ])
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    scopes: row.scopes.filter(isApiScope),
    prefix: row.prefix,
    cacheScope: row.cache_scope ?? row.id,
    ...budgetsOf(row),
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  }));
}

/**
 * Revokes the key with this id or prefix (`lb_3hG8kQ2z`, or just `3hG8kQ2z`). Idempotent:
 * revoking a revoked key keeps its first `revoked_at`.
 *
 * @returns `true` when such a key exists (now revoked), `false` when none does.
 */
export async function revokeApiKey(db: Db, idOrPrefix: string): Promise<boolean> {
  const query = db
    .updateTable('api_keys')
    .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.fn<Date>('now')) }))
    .returning('id');
  return updatesOne(query, idOrPrefix);
}

/**
 * Sets (a number of USD, 0 included) or clears (`null`: the setting applies again) the daily
 * budgets of the key with this id or prefix, the levels given only. The API sees the change
 * within its key cache's TTL (`API_KEY_CACHE_TTL`).
 *
 * @returns `true` when such a key exists, `false` when none does.
 * @throws {@link InvalidApiKeyInputError} for a negative amount or a hard budget below the soft.
 */
export async function setApiKeyBudgets(
  db: Db,
  idOrPrefix: string,
  budgets: { dailyUsd?: number | null; dailyHardUsd?: number | null },
): Promise<boolean> {
  const values = parseBudgetOverrides(budgets);
  if (Object.keys(values).length === 0) return false;
  return updatesOne(db.updateTable('api_keys').set(values).returning('id'), idOrPrefix);
}

/** Runs an `UPDATE api_keys … RETURNING id` on the key with this id or prefix. */
async function updatesOne(
  query: UpdateQueryBuilder<Database, 'api_keys', 'api_keys', { id: string }>,
  idOrPrefix: string,
): Promise<boolean> {
  const given = idOrPrefix.trim();
  const prefix = /^[0-9A-Za-z]{8}$/.test(given) ? `lb_${given}` : given;
  // Anything else cannot match, and a non-uuid compared with the uuid column is a query error.
  if (UUID.test(given)) return (await query.where('id', '=', given).execute()).length > 0;
  if (STORED_PREFIX.test(prefix))
    return (await query.where('prefix', '=', prefix).execute()).length > 0;
  return false;
}

/**
 * The Standard Webhooks secret (`whsec_…`) the worker signs this key's deliveries with, opened
 * with `keyring`, or `undefined` for an unknown key. A revoked key still has one: jobs accepted
 * before the revocation still deliver signed results.
 *
 * @throws {@link SecretKeyUnavailableError} | {@link SecretDecryptionError} when it cannot be
 * opened: never a wrong secret.
 */
export async function getWebhookSecret(
  db: Db,
  apiKeyId: string,
  keyring: SecretKeyring,
): Promise<string | undefined> {
  if (!UUID.test(apiKeyId)) return undefined;
  const row = await db
    .selectFrom('api_keys')
    .select(['webhook_secret_key_id', 'webhook_secret_sealed'])
    .where('id', '=', apiKeyId)
    .executeTakeFirst();
  if (!row) return undefined;
  return openWebhookSecret(keyring, apiKeyId, {
    keyId: row.webhook_secret_key_id,
    sealed: row.webhook_secret_sealed,
  });
}

/**
 * Sets `last_used_at` to `at` unless it is already within `minIntervalMs` of it, so a busy key
 * across a fleet of processes writes (and leaves a dead tuple) at most about once per interval.
 */
export async function touchApiKey(
  db: Db,
  id: string,
  at: Date,
  minIntervalMs = 60_000,
): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ last_used_at: at })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([
        eb('last_used_at', 'is', null),
        eb('last_used_at', '<=', new Date(at.getTime() - minIntervalMs)),
      ]),
    )
    .execute();
}
