import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { rotateWebhookSecrets } from '../../shared/api-keys/rotate-webhook-secrets.ts';
import { secretKeyId } from '../../shared/secrets/secret-key.ts';
import type { SecretKeyring } from '../../shared/secrets/secret-keyring.ts';
import { pgDump } from '../../test/fixtures/pg-dump.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { keyringOf, randomSecretsKey } from '../../test/fixtures/secrets.ts';
import {
  OpenResources,
  type ReceivedRequest,
  startRecordingReceiver,
} from '../../test/fixtures/webhook-servers.ts';
import { settled, useWebhookWorker } from '../../test/fixtures/webhook-worker.ts';

const open = new OpenResources();
afterEach(() => open.closeAll());

const receiver = async () =>
  open.track(await startRecordingReceiver((_req, res) => res.writeHead(204).end()));

const verifiedByStandardWebhooks = (secret: string, request: ReceivedRequest | undefined) =>
  new Webhook(secret).verify(request?.body ?? '', request?.headers as Record<string, string>);

describe('deliver-webhook with the webhook secrets sealed at rest', () => {
  const database = useTestDatabase();
  const KEY = randomSecretsKey();
  const OTHER_KEY = randomSecretsKey();
  const worker = useWebhookWorker(database, {
    SECRETS_KEY: KEY,
    WEBHOOK_ALLOW_LIST: '127.0.0.1/32',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_RETRY_SCHEDULE: '0s,150ms,150ms',
  });
  // Every secret this file creates: none may be found in the dump.
  const secrets: string[] = [];
  const createKey = async (keyring: SecretKeyring, name = 'sealed') => {
    const created = await createApiKey(database.db, { name, scopes: ['generate'] }, keyring);
    secrets.push(created.webhookSecret);
    return created;
  };

  /** Delivers one event for `key` and expects it sent once, signed with the key's own secret. */
  const expectDeliveredSigned = async (key: { id: string; webhookSecret: string }) => {
    const hooks = await receiver();
    const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
    expect(await settled(database.db, enqueued)).toMatchObject({
      status: 'succeeded',
      attempts: 1,
    });
    expect(hooks.requests).toHaveLength(1);
    expect(() => verifiedByStandardWebhooks(key.webhookSecret, hooks.requests[0])).not.toThrow();
  };

  it('signs with the secret opened from the database, as standardwebhooks verifies', async () => {
    await expectDeliveredSigned(await createKey(keyringOf(KEY)));
  });

  describe('when the secret was sealed under a key the worker does not hold', () => {
    it('sends nothing, says which key to set, and waits on the schedule instead of signing wrongly', async () => {
      const key = await createKey(keyringOf(OTHER_KEY));
      const hooks = await receiver();

      const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
      const row = await settled(database.db, enqueued);

      expect(hooks.requests).toEqual([]);
      // Three attempts: the whole (short) schedule, then dead-lettered and replayable.
      expect(row).toMatchObject({ status: 'dead', attempts: 3, last_status_code: null });
      expect(row.last_error).toBe(
        `not sent: cannot decrypt the webhook secret of API key ${key.id}: it was sealed under key id ` +
          `${secretKeyId(Buffer.from(OTHER_KEY, 'base64'))}, which is neither SECRETS_KEY (key id ` +
          `${secretKeyId(Buffer.from(KEY, 'base64'))}) nor SECRETS_KEY_PREVIOUS (unset). Set ` +
          'SECRETS_KEY_PREVIOUS to the key that sealed it (or put SECRETS_KEY back if it was changed ' +
          'by mistake), then run `lowburn secrets rotate`',
      );
    });

    it('delivers, correctly signed, once the secret is rotated under the worker’s key', async () => {
      const key = await createKey(keyringOf(OTHER_KEY));
      await rotateWebhookSecrets(database.db, keyringOf(KEY, OTHER_KEY));

      await expectDeliveredSigned(key);
    });
  });

  it('fails at once, sending nothing, when a sealed secret was copied from another key’s row', async () => {
    const victim = await createKey(keyringOf(KEY), 'victim');
    const attacker = await createKey(keyringOf(KEY), 'attacker');
    await sql`
      UPDATE api_keys SET webhook_secret_sealed = v.webhook_secret_sealed
      FROM api_keys v WHERE v.id = ${victim.id} AND api_keys.id = ${attacker.id}`.execute(
      database.db,
    );
    const hooks = await receiver();

    const row = await settled(
      database.db,
      await worker.enqueue({ apiKeyId: attacker.id, url: hooks.url }),
    );

    expect(hooks.requests).toEqual([]);
    expect(row).toMatchObject({ status: 'failed', attempts: 1 });
    expect(row.last_error).toContain(
      `not sent: cannot decrypt the webhook secret of API key ${attacker.id}: it does not authenticate`,
    );
  });

  it('leaves no webhook secret in a pg_dump taken after keys were created and deliveries sent', async () => {
    const delivered = await database.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('status', '=', 'succeeded')
      .executeTakeFirstOrThrow();
    expect(Number(delivered.n)).toBeGreaterThanOrEqual(2);
    expect(secrets.length).toBeGreaterThanOrEqual(5);

    const dump = await pgDump(database.url);

    expect(dump).toContain('COPY public.api_keys');
    expect(dump).not.toContain('whsec_');
    for (const secret of secrets) expect(dump).not.toContain(secret.slice('whsec_'.length));
  });
});
