import { createHash } from 'node:crypto';
import { type KyselyPlugin, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import type { Db } from '../db/create-db.ts';
import { randomBase62 } from './api-key-format.ts';
import {
  createApiKey,
  getWebhookSecret,
  InvalidApiKeyInputError,
  listApiKeys,
  revokeApiKey,
  verifyApiKey,
} from './index.ts';

/** A view of `db` that counts the queries sent through it. */
function counted(db: Db): { db: Db; queries: () => number } {
  let queries = 0;
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      queries++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { db: db.withPlugin(plugin), queries: () => queries };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('API keys', () => {
  const database = useTestDatabase();

  describe('when a key is created', () => {
    it('has the form lb_<8 base62>_<32 base62>, at least 128 random bits', async () => {
      const created = await createApiKey(
        database.db,
        { name: 'format', scopes: ['generate'] },
        devKeyring(),
      );
      const match = /^lb_([0-9A-Za-z]{8})_([0-9A-Za-z]{32})$/.exec(created.key);
      expect(match).not.toBeNull();
      expect(created.prefix).toBe(`lb_${match?.[1]}`);
      expect(32 * Math.log2(62)).toBeGreaterThanOrEqual(128);
    });

    it('draws its characters uniformly from all of base62', () => {
      const counts = new Map<string, number>();
      for (const c of randomBase62(620_000)) counts.set(c, (counts.get(c) ?? 0) + 1);
      expect(counts.size).toBe(62);
      // ~10,000 each (σ ≈ 100); a modulo-biased draw would give 8 characters ~12,500.
      expect(Math.max(...counts.values()) / Math.min(...counts.values())).toBeLessThan(1.15);
    });

    it('stores only the prefix and the SHA-256 of the key, never the key, and the webhook secret sealed', async () => {
      const created = await createApiKey(
        database.db,
        {
          name: 'stored',
          scopes: ['read', 'generate'],
        },
        devKeyring(),
      );
      const row = await database.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', created.id)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({
        name: 'stored',
        prefix: created.prefix,
        key_hash: sha256(created.key),
        scopes: ['generate', 'read'],
        webhook_secret_key_id: devKeyring().currentKeyId,
        last_used_at: null,
        revoked_at: null,
      });
      expect(JSON.stringify(row)).not.toContain(created.key.slice(12));
      expect(JSON.stringify(row)).not.toContain('whsec_');
      expect(Buffer.from(row.webhook_secret_sealed).includes(created.webhookSecret.slice(6))).toBe(
        false,
      );
    });

    it('comes with a Standard Webhooks secret: whsec_ and base64 of 32 bytes', async () => {
      const { webhookSecret } = await createApiKey(
        database.db,
        { name: 'hooks', scopes: 'read' },
        devKeyring(),
      );
      expect(webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
      expect(Buffer.from(webhookSecret.slice(6), 'base64')).toHaveLength(32);
    });

    it('refuses an empty or over-long name and unknown or missing scopes, storing nothing', async () => {
      const before = await listApiKeys(database.db);
      await expect(
        createApiKey(database.db, { name: '  ', scopes: ['read'] }, devKeyring()),
      ).rejects.toThrow('an API key name must be 1 to 100 characters (got 0)');
      await expect(
        createApiKey(database.db, { name: 'x'.repeat(101), scopes: ['read'] }, devKeyring()),
      ).rejects.toThrow(InvalidApiKeyInputError);
      await expect(
        createApiKey(database.db, { name: 'a\nb', scopes: ['read'] }, devKeyring()),
      ).rejects.toThrow('control characters');
      await expect(
        createApiKey(database.db, { name: 'ok', scopes: ['read', 'root', 'sudo'] }, devKeyring()),
      ).rejects.toThrow(
        'unknown scopes "root", "sudo"; valid scopes: generate, telemetry, read, admin',
      );
      await expect(
        createApiKey(database.db, { name: 'ok', scopes: [] }, devKeyring()),
      ).rejects.toMatchObject({
        name: 'InvalidApiKeyInputError',
        field: 'scopes',
      });
      expect(await listApiKeys(database.db)).toEqual(before);
    });
  });

  describe('when a key is presented', () => {
    it('returns the key it was created as', async () => {
      const created = await createApiKey(
        database.db,
        { name: 'verify', scopes: 'generate,read' },
        devKeyring(),
      );
      expect(await verifyApiKey(database.db, created.key)).toEqual({
        id: created.id,
        name: 'verify',
        scopes: ['generate', 'read'],
        prefix: created.prefix,
        cacheScope: created.id,
        dailyBudgetUsd: null,
        dailyBudgetUsdHard: null,
      });
    });

    it('rejects a wrong secret behind a right prefix', async () => {
      const { key } = await createApiKey(
        database.db,
        { name: 'wrong', scopes: ['read'] },
        devKeyring(),
      );
      const last = key.at(-1) === 'a' ? 'b' : 'a';
      expect(await verifyApiKey(database.db, `${key.slice(0, -1)}${last}`)).toBeUndefined();
    });

    it('rejects malformed values without querying Postgres', async () => {
      const { key } = await createApiKey(
        database.db,
        { name: 'malformed', scopes: ['read'] },
        devKeyring(),
      );
      const { db, queries } = counted(database.db);
      for (const bad of [
        '',
        'lb_',
        `${key} `,
        `${key}\n`,
        ` ${key}`,
        `Bearer ${key}`,
        key.slice(0, -1),
        `${key}x`,
        key.replace('lb_', 'sk_'),
        `${key.slice(0, 20)}-${key.slice(21)}`,
        'x'.repeat(1_000_000),
        undefined,
        null,
        42,
        { key },
      ]) {
        expect(await verifyApiKey(db, bad)).toBeUndefined();
      }
      expect(queries()).toBe(0);
      expect(await verifyApiKey(db, key)).toBeDefined();
      expect(queries()).toBe(1);
    });

    it('rejects a revoked key', async () => {
      const { key, prefix } = await createApiKey(
        database.db,
        { name: 'revoked', scopes: 'read' },
        devKeyring(),
      );
      expect(await revokeApiKey(database.db, prefix)).toBe(true);
      expect(await verifyApiKey(database.db, key)).toBeUndefined();
    });
  });

  describe('when keys are listed', () => {
    it('shows prefixes, scopes and dates but no key, hash or webhook secret', async () => {
      const created = await createApiKey(
        database.db,
        { name: 'listed', scopes: ['admin'] },
        devKeyring(),
      );
      await sql`UPDATE api_keys SET last_used_at = now() WHERE id = ${created.id}`.execute(
        database.db,
      );
      const list = await listApiKeys(database.db);
      const listed = list.find((k) => k.id === created.id);
      expect(listed).toEqual({
        id: created.id,
        name: 'listed',
        prefix: created.prefix,
        scopes: ['admin'],
        cacheScope: created.id,
        dailyBudgetUsd: null,
        dailyBudgetUsdHard: null,
        createdAt: created.createdAt,
        lastUsedAt: expect.any(Date),
        revokedAt: null,
      });
      const text = JSON.stringify(list);
      expect(text).not.toContain(created.key);
      expect(text).not.toContain(sha256(created.key));
      expect(text).not.toContain(created.webhookSecret);
      expect(text).not.toContain('whsec_');
    });
  });

  describe('when a key is revoked', () => {
    it('finds it by id, by prefix or by the prefix without lb_, and keeps the first revocation time', async () => {
      const created = await createApiKey(
        database.db,
        { name: 'revoke', scopes: ['read'] },
        devKeyring(),
      );
      expect(await revokeApiKey(database.db, created.prefix)).toBe(true);
      const first = (await listApiKeys(database.db)).find((k) => k.id === created.id)?.revokedAt;
      expect(first).toBeInstanceOf(Date);
      expect(await revokeApiKey(database.db, created.id)).toBe(true);
      expect(await revokeApiKey(database.db, created.prefix.slice(3))).toBe(true);
      const again = (await listApiKeys(database.db)).find((k) => k.id === created.id)?.revokedAt;
      expect(again).toEqual(first);
    });

    it('says false for a key that does not exist, whatever the input looks like', async () => {
      const { db, queries } = counted(database.db);
      expect(await revokeApiKey(db, 'lb_00000000')).toBe(false);
      expect(await revokeApiKey(db, '00000000-0000-4000-8000-000000000000')).toBe(false);
      expect(queries()).toBe(2);
      expect(await revokeApiKey(db, "'; DROP TABLE api_keys; --")).toBe(false);
      expect(await revokeApiKey(db, '')).toBe(false);
      expect(queries()).toBe(2);
    });
  });

  describe('when the webhook job asks for a signing secret', () => {
    it('gets the key’s secret, and undefined for an unknown or malformed id', async () => {
      const created = await createApiKey(
        database.db,
        { name: 'secret', scopes: ['generate'] },
        devKeyring(),
      );
      expect(await getWebhookSecret(database.db, created.id, devKeyring())).toBe(
        created.webhookSecret,
      );
      expect(
        await getWebhookSecret(database.db, '00000000-0000-4000-8000-000000000000', devKeyring()),
      ).toBeUndefined();
      expect(await getWebhookSecret(database.db, 'not-a-uuid', devKeyring())).toBeUndefined();
    });
  });
});
