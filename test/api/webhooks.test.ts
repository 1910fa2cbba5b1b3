import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, LowburnApiError, type WebhookReplay } from '../../api/client/index.ts';
import { startTestApi, type TestApi } from '../fixtures/api-server.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import { OpenResources, startRecordingReceiver } from '../fixtures/webhook-servers.ts';
import { settled, useWebhookWorker, webhookKey } from '../fixtures/webhook-worker.ts';

const open = new OpenResources();
afterEach(() => open.closeAll());

describe('POST /v1/webhooks/:id/replay', () => {
  const database = useTestDatabase();
  const worker = useWebhookWorker(database, {
    WEBHOOK_ALLOW_LIST: '127.0.0.1',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_RETRY_SCHEDULE: '0s,100ms',
  });
  // The API and the worker share a queue prefix, as a deployment does.
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(database, { QUEUE_PREFIX: worker.prefix });
  });
  afterAll(() => api.stop());

  const replay = (id: string, key?: string) =>
    api.request(`/v1/webhooks/${id}/replay`, { method: 'POST', ...(key ? { key } : {}) });

  it('sends a dead letter again with the same webhook-id (admin scope)', async () => {
    const { key } = await api.key(['admin']);
    const signer = await webhookKey(database.db);
    let up = false;
    const hooks = open.track(
      await startRecordingReceiver((_req, res) => res.writeHead(up ? 200 : 500).end()),
    );
    const enqueued = await worker.enqueue({ apiKeyId: signer.id, url: hooks.url });
    await settled(database.db, enqueued, ['dead']);
    up = true;

    const res = await replay(enqueued.id, key);

    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      id: enqueued.id,
      status: 'pending',
      run: 1,
      previousStatus: 'dead',
    });
    expect(await settled(database.db, enqueued)).toMatchObject({
      status: 'succeeded',
      attempts: 3,
    });
    expect(hooks.requests.map((r) => r.headers['webhook-id'])).toEqual([
      enqueued.id,
      enqueued.id,
      enqueued.id,
    ]);
  });

  it('re-enables a URL that answered 410 when its disabled delivery is replayed', async () => {
    const { key } = await api.key(['admin']);
    const signer = await webhookKey(database.db);
    const hooks = open.track(
      await startRecordingReceiver((_req, res, n) => res.writeHead(n === 0 ? 410 : 200).end()),
    );
    const gone = await worker.enqueue({ apiKeyId: signer.id, url: hooks.url });
    await settled(database.db, gone, ['disabled']);

    expect((await replay(gone.id, key)).status).toBe(202);
    expect(await settled(database.db, gone)).toMatchObject({ status: 'succeeded', attempts: 2 });
    const later = await worker.enqueue({ apiKeyId: signer.id, url: hooks.url });
    expect(await settled(database.db, later)).toMatchObject({ status: 'succeeded' });
  });

  it('is what the typed client’s webhooks.replay calls, errors typed', async () => {
    const admin = createClient({ baseUrl: api.url, apiKey: (await api.key(['admin'])).key });
    const signer = await webhookKey(database.db);
    const hooks = open.track(await startRecordingReceiver((_req, res) => res.writeHead(204).end()));
    // A delivered event the receiver says it lost: sent again, byte for byte, same webhook-id.
    const enqueued = await worker.enqueue({ apiKeyId: signer.id, url: hooks.url });
    await settled(database.db, enqueued, ['succeeded']);

    const replayed: WebhookReplay = await admin.webhooks.replay(enqueued.id);

    expect(replayed).toEqual({
      id: enqueued.id,
      status: 'pending',
      run: 1,
      previousStatus: 'succeeded',
    });
    expect(await settled(database.db, enqueued, ['succeeded'], { minAttempts: 2 })).toMatchObject({
      run: 1,
      attempts: 2,
    });
    expect(hooks.requests.map((r) => r.headers['webhook-id'])).toEqual([enqueued.id, enqueued.id]);
    expect(hooks.requests[1]?.body).toBe(hooks.requests[0]?.body);

    const generateOnly = createClient({
      baseUrl: api.url,
      apiKey: (await api.key(['generate'])).key,
    });
    const forbidden = await generateOnly.webhooks.replay(enqueued.id).catch((e: unknown) => e);
    expect(forbidden).toBeInstanceOf(LowburnApiError);
    expect(forbidden).toMatchObject({ status: 403, code: 'forbidden' });
    await expect(
      admin.webhooks.replay('msg_00000000000000000000000000000000'),
    ).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
      message: 'no webhook delivery "msg_00000000000000000000000000000000"',
    });
  });

  it('is 403 without the admin scope, 404 for an unknown or malformed id, 401 without a key', async () => {
    const { key: generateOnly } = await api.key(['generate']);
    const { key } = await api.key(['admin']);

    const forbidden = await replay('msg_00000000000000000000000000000000', generateOnly);
    const unknown = await replay('msg_00000000000000000000000000000000', key);
    const malformed = await replay('..%2F..%2Fetc', key);
    const anonymous = await replay('msg_00000000000000000000000000000000');

    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: {
        code: 'not_found',
        message: 'no webhook delivery "msg_00000000000000000000000000000000"',
      },
    });
    expect(malformed.status).toBe(404);
    expect(anonymous.status).toBe(401);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await api.request('/v1/openapi.json')).json()) as {
      paths: Record<string, { post?: { responses: Record<string, unknown> } }>;
    };
    expect(Object.keys(doc.paths['/v1/webhooks/{id}/replay']?.post?.responses ?? {})).toContain(
      '202',
    );
  });
});
