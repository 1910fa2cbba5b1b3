import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { testEnv } from '../fixtures/config.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import { deletePrefix, randomPrefix } from '../fixtures/redis.ts';
import { devKeyring } from '../fixtures/secrets.ts';

describe('the Vercel function', () => {
  const database = useTestDatabase();
  const prefix = randomPrefix();
  let handler: typeof import('../../deploy/vercel/api/index.ts');
  beforeAll(async () => {
    // The entry reads process.env at import, as it does on Vercel.
    Object.assign(process.env, testEnv({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }));
    handler = await import('../../deploy/vercel/api/index.ts');
  });
  afterAll(async () => {
    try {
      await deletePrefix(handler.connection.deps.redis, prefix);
    } finally {
      await handler.connection.close();
    }
  });

  it('serves the same app as Web-standard handlers: 202 from a Request, no server needed', async () => {
    const { key } = await createApiKey(
      database.db,
      { name: 'vercel', scopes: ['generate'] },
      devKeyring(),
    );
    const res = await handler.POST(
      new Request('https://app.example/v1/generations', {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'u', taskType: 'summary', prompt: 'hi' }),
      }),
    );
    expect(res.status).toBe(202);
    expect((await handler.GET(new Request('https://app.example/healthz'))).status).toBe(200);
  });
});
