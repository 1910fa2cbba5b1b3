import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv } from '../../../test/fixtures/config.ts';
import { pgDump } from '../../../test/fixtures/pg-dump.ts';
import { createTestDatabase } from '../../../test/fixtures/postgres.ts';
import { spawnNode } from '../../../test/fixtures/processes.ts';
import { keyringOf, randomSecretsKey } from '../../../test/fixtures/secrets.ts';
import { getWebhookSecret } from '../../api-keys/api-keys.ts';
import { createLogger } from '../../log/logger.ts';
import { secretKeyId } from '../../secrets/secret-key.ts';
import { createDb, type Db } from '../create-db.ts';
import { migrateDown, migrateUp } from '../migrate.ts';

const columns = async (db: Db) =>
  (
    await sql<{ name: string }>`
      SELECT column_name AS name FROM information_schema.columns
      WHERE table_name = 'api_keys' AND column_name LIKE 'webhook_secret%' ORDER BY 1`.execute(db)
  ).rows.map((r) => r.name);

// Later migrations are not this file's subject: every step migrates to this one and no further.
const THIS = '0006-secrets-at-rest';

describe('migration 0006-secrets-at-rest', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Db;
  const plain: { id: string; secret: string }[] = [];
  beforeEach(async () => {
    database = await createTestDatabase({ empty: true });
    db = createDb({ url: database.url, log: createLogger({ level: 'silent' }) }).db;
    await migrateUp(db, { to: '0005-ledger-retention' });
    plain.length = 0;
    for (let i = 0; i < 3; i++) {
      const row = { id: randomUUID(), secret: `whsec_${randomBytes(32).toString('base64')}` };
      plain.push(row);
      await sql`
        INSERT INTO api_keys (id, name, prefix, key_hash, scopes, webhook_secret)
        VALUES (${row.id}, ${`old ${i}`}, ${`lb_old0000${i}`}, ${`hash${i}`}, '{generate}', ${row.secret})`.execute(
        db,
      );
    }
  });
  afterEach(async () => {
    await db.destroy();
    await database.drop();
  });

  it('encrypts existing plain secrets under SECRETS_KEY and leaves none in a dump', async () => {
    const KEY = randomSecretsKey();

    expect(await migrateUp(db, { keyring: keyringOf(KEY), to: THIS })).toEqual([THIS]);

    expect(await columns(db)).toEqual(['webhook_secret_key_id', 'webhook_secret_sealed']);
    for (const { id, secret } of plain) {
      expect(await getWebhookSecret(db, id, keyringOf(KEY))).toBe(secret);
    }
    const keyIds = await db.selectFrom('api_keys').select('webhook_secret_key_id').execute();
    expect(new Set(keyIds.map((r) => r.webhook_secret_key_id))).toEqual(
      new Set([secretKeyId(Buffer.from(KEY, 'base64'))]),
    );
    const dump = await pgDump(database.url);
    expect(dump).toContain('COPY public.api_keys');
    expect(dump).not.toContain('whsec_');
  });

  it('refuses without a key when there are rows to encrypt, and changes nothing', async () => {
    await expect(migrateUp(db)).rejects.toThrow(
      'SECRETS_KEY: is required by `lowburn migrate` to encrypt the webhook secrets of 3 API key(s) (migration 0006-secrets-at-rest); nothing was changed',
    );
    expect(await columns(db)).toEqual(['webhook_secret']);
  });

  it('makes `lowburn migrate` in production without SECRETS_KEY exit 78, saying what to set', async () => {
    const cli = spawnNode('lowburn migrate', 'workers/cli.ts', ['migrate', 'up'], {
      ...testEnv({ DATABASE_URL: database.url }),
      NODE_ENV: 'production',
    });
    expect((await cli.exited).code).toBe(78);
    expect(cli.output()).toBe(
      'lowburn: Invalid configuration:\n' +
        '  SECRETS_KEY: is required by `lowburn migrate` to encrypt the webhook secrets of 3 API key(s) ' +
        '(migration 0006-secrets-at-rest); nothing was changed (example: SECRETS_KEY=$(openssl rand -base64 32))\n',
    );
    expect(await columns(db)).toEqual(['webhook_secret']);
  });

  it('needs no key for an empty table', async () => {
    await db.deleteFrom('api_keys').execute();
    expect(await migrateUp(db, { to: THIS })).toEqual([THIS]);
  });

  it('decrypts back on the way down', async () => {
    const KEY = randomSecretsKey();
    await migrateUp(db, { keyring: keyringOf(KEY), to: THIS });

    await expect(migrateDown(db)).rejects.toThrow(/SECRETS_KEY: is required .* to decrypt/);
    expect(await migrateDown(db, { keyring: keyringOf(KEY) })).toEqual(['0006-secrets-at-rest']);

    const rows = await sql<{ id: string; webhook_secret: string }>`
      SELECT id, webhook_secret FROM api_keys`.execute(db);
    expect(rows.rows.sort((a, b) => a.id.localeCompare(b.id))).toEqual(
      plain
        .map((p) => ({ id: p.id, webhook_secret: p.secret }))
        .sort((a, b) => a.id.localeCompare(b.id)),
    );
  });
});
