import { describe, expect, it } from 'vitest';
import { createApiKey, getWebhookSecret } from '../shared/api-keys/api-keys.ts';
import { secretKeyId } from '../shared/secrets/secret-key.ts';
import { testEnv } from '../test/fixtures/config.ts';
import { useTestDatabase } from '../test/fixtures/postgres.ts';
import { spawnNode } from '../test/fixtures/processes.ts';
import { keyringOf, randomSecretsKey } from '../test/fixtures/secrets.ts';

const idOf = (base64: string) => secretKeyId(Buffer.from(base64, 'base64'));

describe('lowburn secrets rotate', () => {
  const database = useTestDatabase();

  async function lowburn(args: string[], env: Record<string, string>) {
    const cli = spawnNode(`lowburn ${args.join(' ')}`, 'workers/cli.ts', args, {
      ...testEnv({ DATABASE_URL: database.url, ...env }),
    });
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  }

  const sealedRows = () =>
    database.db
      .selectFrom('api_keys')
      .select(['id', 'webhook_secret_key_id', 'webhook_secret_sealed'])
      .orderBy('id')
      .execute();

  it('re-encrypts what SECRETS_KEY_PREVIOUS sealed under SECRETS_KEY, reports a row it cannot open, and is idempotent', async () => {
    const OLD = randomSecretsKey();
    const NEW = randomSecretsKey();
    const LOST = randomSecretsKey();
    const old = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        createApiKey(database.db, { name, scopes: ['generate'] }, keyringOf(OLD)),
      ),
    );
    const current = await createApiKey(
      database.db,
      { name: 'd', scopes: ['read'] },
      keyringOf(NEW),
    );
    const lost = await createApiKey(database.db, { name: 'e', scopes: ['read'] }, keyringOf(LOST));
    const lostBefore = (await sealedRows()).find((r) => r.id === lost.id);

    const first = await lowburn(['secrets', 'rotate', '--batch-size', '2'], {
      SECRETS_KEY: NEW,
      SECRETS_KEY_PREVIOUS: OLD,
    });

    expect(first.code).toBe(1);
    expect(first.output).toContain(
      `re-encrypted 3 webhook secret(s) under SECRETS_KEY (key id ${idOf(NEW)}); 1 already were\n` +
        '1 could not be opened and were left as they are:\n' +
        `  ${lost.id}: cannot decrypt the webhook secret of API key ${lost.id}: it was sealed under key id ${idOf(LOST)}`,
    );
    for (const key of [...old, current]) {
      // SECRETS_KEY alone opens them now: the previous key can go.
      expect(await getWebhookSecret(database.db, key.id, keyringOf(NEW))).toBe(key.webhookSecret);
    }
    expect((await sealedRows()).find((r) => r.id === lost.id)).toEqual(lostBefore);

    const again = await lowburn(['secrets', 'rotate', '--json'], {
      SECRETS_KEY: NEW,
      SECRETS_KEY_PREVIOUS: OLD,
    });
    expect(again.code).toBe(1);
    expect(JSON.parse(again.output)).toMatchObject({
      keyId: idOf(NEW),
      rotated: 0,
      current: 4,
      unopenable: [{ apiKeyId: lost.id, keyId: idOf(LOST) }],
    });
  });

  it('says so, and exits 0, when everything is sealed under SECRETS_KEY', async () => {
    const KEY = randomSecretsKey();
    await database.db.deleteFrom('api_keys').execute();
    await createApiKey(database.db, { name: 'only', scopes: ['read'] }, keyringOf(KEY));

    expect(await lowburn(['secrets', 'rotate'], { SECRETS_KEY: KEY })).toEqual({
      code: 0,
      output:
        `re-encrypted 0 webhook secret(s) under SECRETS_KEY (key id ${idOf(KEY)}); 1 already were\n` +
        'every webhook secret is sealed under SECRETS_KEY: SECRETS_KEY_PREVIOUS can be unset\n',
    });
  });

  it('refuses to run in production without SECRETS_KEY, naming the variable and the command', async () => {
    for (const args of [
      ['secrets', 'rotate'],
      ['keys', 'create', '--name', 'x', '--scopes', 'read'],
    ]) {
      const { code, output } = await lowburn(args, { NODE_ENV: 'production' });
      expect(code).toBe(78);
      expect(output).toContain(
        `SECRETS_KEY: is required by \`lowburn ${args.slice(0, 2).join(' ')}\` when NODE_ENV=production`,
      );
    }
  });
});
