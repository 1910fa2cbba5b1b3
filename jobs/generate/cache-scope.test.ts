import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStatus } from '../../api/schemas.ts';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { useTestApi } from '../../test/fixtures/api-server.ts';
import { useWorkerBehindApi } from '../../test/fixtures/api-worker.ts';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { generateJob } from './index.ts';

/**
 * Tenant isolation: every API key has a cache scope (its own unless created sharing one), and
 * a request may narrow it to its user or turn caching off. No answer crosses a scope.
 */
describe('cache scopes', () => {
  const t = useTestApi();
  let ollama: ModelTestServer;
  beforeAll(async () => {
    ollama = await startOllamaServer();
  });
  afterAll(() => ollama?.close());
  useWorkerBehindApi(t, { generate: generateJob }, () => ({ OLLAMA_URL: ollama.url }));

  const key = async (cacheScope?: string) => {
    const created = await createApiKey(
      t.database.db,
      { name: 'app', scopes: ['generate', 'read'], cacheScope },
      devKeyring(),
    );
    return created.key;
  };
  /** Generates and waits; returns where the answer came from. */
  async function ask(apiKey: string, body: Record<string, unknown>) {
    const res = await t.api.request('/v1/generations', {
      key: apiKey,
      json: { userId: 'user-a', taskType: 'classification', ...body },
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    let status: JobStatus | undefined;
    await waitUntil(
      async () => {
        status = (await (
          await t.api.request(`/v1/jobs/${id}`, { key: apiKey })
        ).json()) as JobStatus;
        return status.status === 'completed';
      },
      10_000,
      'the generation',
    );
    return (status?.result as { source: string } | undefined)?.source;
  }

  it("keeps two keys' answers apart, and shares within a key", async () => {
    const [first, second] = [await key(), await key()];
    const prompt = `Classify: my parcel is late (${Date.now()})`;
    expect(await ask(first, { prompt })).toBe('local');
    expect(await ask(second, { prompt })).toBe('local');
    expect(await ask(first, { prompt })).toBe('cache');
  });

  it('shares between keys created with the same scope', async () => {
    const scope = `app-${Date.now()}`;
    const prompt = `Classify: refund please (${Date.now()})`;
    expect(await ask(await key(scope), { prompt })).toBe('local');
    expect(await ask(await key(scope), { prompt })).toBe('cache');
    expect(await ask(await key(`${scope}-staging`), { prompt })).toBe('local');
  });

  it("never answers one user with another's answer when cache is 'user'", async () => {
    const apiKey = await key();
    const prompt = `Classify: my account ${Date.now()} is locked`;
    expect(await ask(apiKey, { prompt, cache: 'user', userId: 'alice' })).toBe('local');
    expect(await ask(apiKey, { prompt, cache: 'user', userId: 'bob' })).toBe('local');
    expect(await ask(apiKey, { prompt, cache: 'user', userId: 'alice' })).toBe('cache');
    // A shared request neither reads nor is answered from a user's entries.
    expect(await ask(apiKey, { prompt })).toBe('local');
  });

  it("reads and writes no cache when cache is 'off'", async () => {
    const apiKey = await key();
    const prompt = `Classify: please call me back (${Date.now()})`;
    expect(await ask(apiKey, { prompt, cache: 'off' })).toBe('local');
    expect(await ask(apiKey, { prompt, cache: 'off' })).toBe('local');
    expect(await ask(apiKey, { prompt })).toBe('local');
  });

  it('refuses a cache option it does not know', async () => {
    const res = await t.api.request('/v1/generations', {
      key: await key(),
      json: { userId: 'u', taskType: 'summary', prompt: 'p', cache: 'global' },
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { field: string } }).error.field).toBe('cache');
  });
});
