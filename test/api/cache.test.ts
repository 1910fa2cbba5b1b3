import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStatus } from '../../api/schemas.ts';
import { generateJob } from '../../jobs/generate/index.ts';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { useTestApi } from '../fixtures/api-server.ts';
import { useWorkerBehindApi } from '../fixtures/api-worker.ts';
import { type ModelTestServer, startOllamaServer } from '../fixtures/model-servers.ts';
import { devKeyring } from '../fixtures/secrets.ts';
import { waitUntil } from '../fixtures/wait-until.ts';

const none = { precomputed: 0, exact: 0, template: 0, semantic: 0 };

describe('DELETE /v1/cache', () => {
  const t = useTestApi();
  let ollama: ModelTestServer;
  let admin: string;
  let app: string;
  beforeAll(async () => {
    ollama = await startOllamaServer();
    admin = (await t.api.key(['admin'])).key;
    const created = await createApiKey(
      t.database.db,
      { name: 'app', scopes: ['generate', 'read'], cacheScope: 'acme' },
      devKeyring(),
    );
    app = created.key;
  });
  afterAll(() => ollama?.close());
  useWorkerBehindApi(t, { generate: generateJob }, () => ({ OLLAMA_URL: ollama.url }));

  /** Generates with the app's key and waits; returns where the answer came from. */
  async function ask(prompt: string) {
    const res = await t.api.request('/v1/generations', {
      key: app,
      json: { userId: 'user-a', taskType: 'summary', prompt },
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    let status: JobStatus | undefined;
    await waitUntil(
      async () => {
        status = (await (await t.api.request(`/v1/jobs/${id}`, { key: app })).json()) as JobStatus;
        return status.status === 'completed';
      },
      10_000,
      'the generation',
    );
    return (status?.result as { source: string } | undefined)?.source;
  }

  const purge = (body: unknown, key = admin) =>
    t.api.request('/v1/cache', { method: 'DELETE', key, json: body });

  it('removes a bad answer from every layer and answers the counts (admin scope)', async () => {
    const prompt = `Summarise: the delivery was late (${Date.now()})`;
    expect(await ask(prompt)).toBe('local');
    expect(await ask(prompt)).toBe('cache');

    const res = await purge({ prompt, scope: 'acme' });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      dryRun: false,
      removed: { ...none, exact: 1, semantic: 1 },
      vectors: 1,
      namespaces: 1,
    });
    expect(await ask(prompt)).toBe('local');
  });

  it('only counts on a dry run', async () => {
    const prompt = `Summarise: the parcel arrived damaged (${Date.now()})`;
    await ask(prompt);

    const res = await purge({ prompt, dryRun: true });

    expect(await res.json()).toMatchObject({
      dryRun: true,
      removed: { ...none, exact: 1, semantic: 1 },
    });
    expect(await ask(prompt)).toBe('cache');
  });

  it('is 403 without the admin scope and 401 without a key', async () => {
    const forbidden = await purge({ taskType: 'summary' }, app);
    const anonymous = await t.api.request('/v1/cache', {
      method: 'DELETE',
      json: { taskType: 'summary' },
    });

    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toEqual({
      error: { code: 'forbidden', message: 'this API key lacks the "admin" scope' },
    });
    expect(anonymous.status).toBe(401);
  });

  it('refuses a request that names nothing to purge, saying what to send', async () => {
    const message =
      'say what to purge: one or more of taskType, template, prompt, messages, key, namespace (scope only narrows them)';
    for (const body of [{}, { scope: 'acme' }, { dryRun: true }]) {
      const res = await purge(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(await res.json()).toEqual({ error: { code: 'invalid_request', message } });
    }
    const empty = await t.api.request('/v1/cache', { method: 'DELETE', key: admin });
    expect(empty.status).toBe(422);
    expect(((await empty.json()) as { error: { message: string } }).error.message).toBe(message);
  });

  it('names the field that is wrong', async () => {
    const badNamespace = await purge({ namespace: 'not-a-namespace' });
    const unknown = await purge({ taskType: 'summary', everything: true });

    expect(badNamespace.status).toBe(422);
    expect(await badNamespace.json()).toEqual({
      error: {
        code: 'invalid_request',
        message: 'namespace: must be a namespace id: 24 hex digits',
        field: 'namespace',
      },
    });
    expect(unknown.status).toBe(422);
    expect(((await unknown.json()) as { error: { field: string } }).error.field).toBe('everything');
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await t.api.request('/v1/openapi.json')).json()) as {
      paths: Record<string, { delete?: { responses: Record<string, unknown> } }>;
    };
    expect(Object.keys(doc.paths['/v1/cache']?.delete?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '403', '422']),
    );
  });
});
