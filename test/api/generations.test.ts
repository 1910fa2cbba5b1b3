import { describe, expect, it } from 'vitest';
import { useTestApi } from '../fixtures/api-server.ts';

const valid = { userId: 'user-1', taskType: 'summary', prompt: 'Summarise: the cat sat.' };

describe('POST /v1/generations', () => {
  const t = useTestApi();
  const queue = {
    get generate() {
      return t.queue('generate');
    },
  };

  it('answers 202 with a job id, and the job waits in the generate queue with the parsed payload', async () => {
    const { id: keyId, key } = await t.api.key(['generate', 'read']);
    const res = await t.api.request('/v1/generations', { key, json: valid });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; status: string; statusUrl: string };
    expect(body).toEqual({
      id: expect.stringMatching(/^generate\./),
      status: 'queued',
      statusUrl: `/v1/jobs/${body.id}`,
    });
    const job = await queue.generate.getJob(body.id);
    expect(job?.data).toEqual({ ...valid, apiKeyId: keyId, cacheScope: keyId });
    expect(await job?.getState()).toBe('waiting');

    const status = await t.api.request(body.statusUrl, { key });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({
      id: body.id,
      queue: 'generate',
      status: 'queued',
      result: null,
      error: null,
      finishedAt: null,
    });
  });

  it('hides a job from every other key', async () => {
    const owner = await t.api.key(['generate']);
    const other = await t.api.key(['generate', 'read']);
    const { id } = (await (
      await t.api.request('/v1/generations', { key: owner.key, json: valid })
    ).json()) as { id: string };
    const res = await t.api.request(`/v1/jobs/${id}`, { key: other.key });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: { code: 'not_found', message: `no job "${id}" for this API key` },
    });
  });

  it('refuses a key without the generate scope', async () => {
    const { key } = await t.api.key(['read']);
    const res = await t.api.request('/v1/generations', { key, json: valid });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
  });

  it('returns the first response for a repeated Idempotency-Key, and 422 for a different body', async () => {
    const { key } = await t.api.key(['generate']);
    const send = (body: unknown) =>
      t.api.request('/v1/generations', {
        key,
        json: body,
        headers: { 'idempotency-key': 'order-42' },
      });
    const first = await send(valid);
    const again = await send({
      taskType: valid.taskType,
      prompt: valid.prompt,
      userId: valid.userId,
    });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    const firstId = ((await first.json()) as { id: string }).id;
    expect(((await again.json()) as { id: string }).id).toBe(firstId);
    const conflict = await send({ ...valid, prompt: 'something else' });
    expect(conflict.status).toBe(422);
    expect(await conflict.json()).toMatchObject({
      error: { code: 'idempotency_conflict', field: 'idempotency-key' },
    });
    const jobs = await queue.generate.getJobs(['waiting']);
    expect(jobs.filter((j) => j.id === firstId)).toHaveLength(1);
  });

  it('names the field to fix in a bad request and enqueues nothing', async () => {
    const { key } = await t.api.key(['generate']);
    const before = await queue.generate.count();
    const cases: [unknown, number, string, string | undefined][] = [
      [{ ...valid, taskType: 'poetry' }, 422, 'invalid_request', 'taskType'],
      [{ ...valid, extra: 1 }, 422, 'invalid_request', 'extra'],
      [{ userId: 'u', taskType: 'qa' }, 422, 'invalid_request', 'prompt'],
      [
        { ...valid, messages: [{ role: 'user', content: 'hi' }] },
        422,
        'invalid_request',
        'messages',
      ],
      [{ ...valid, webhookUrl: 'ftp://example.com' }, 422, 'invalid_request', 'webhookUrl'],
      [[1, 2], 422, 'invalid_request', undefined],
    ];
    for (const [body, status, code, field] of cases) {
      const res = await t.api.request('/v1/generations', { key, json: body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      const error = (
        (await res.json()) as { error: { code: string; field?: string; message: string } }
      ).error;
      expect(error.code).toBe(code);
      expect(error.field).toBe(field);
      expect(error.message.length).toBeGreaterThan(5);
    }
    const malformed = await t.api.request('/v1/generations', {
      key,
      method: 'POST',
      body: '{"userId":',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe(
      'invalid_json',
    );
    const big = await t.api.request('/v1/generations', {
      key,
      json: { ...valid, prompt: 'x'.repeat(300 * 1024) },
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe(
      'payload_too_large',
    );
    // Without Content-Length (chunked), the cap is counted while streaming.
    const chunk = new TextEncoder().encode(
      JSON.stringify({ ...valid, prompt: 'y'.repeat(300 * 1024) }),
    );
    const chunked = await t.api.request('/v1/generations', {
      key,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(chunk);
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await queue.generate.count()).toBe(before);
  });
});

describe('routes and documents', () => {
  const t = useTestApi();

  it('answers unknown routes, missing keys and health probes with JSON', async () => {
    const unknown = await t.api.request('/nope');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: { code: 'not_found', message: 'no route GET /nope' },
    });
    const anonymous = await t.api.request('/v1/generations', { json: valid });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe(
      'unauthorized',
    );
    expect((await t.api.request('/healthz')).status).toBe(200);
    expect(await (await t.api.request('/readyz')).json()).toEqual({ status: 'ok' });
  });

  it('publishes an OpenAPI 3.1 document built from the route schemas', async () => {
    const doc = (await (await t.api.request('/v1/openapi.json')).json()) as {
      openapi: string;
      paths: Record<
        string,
        {
          post?: {
            requestBody: {
              content: Record<
                string,
                { schema: { properties: Record<string, unknown>; additionalProperties: boolean } }
              >;
            };
          };
        }
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    const body =
      doc.paths['/v1/generations']?.post?.requestBody.content['application/json']?.schema;
    expect(Object.keys(body?.properties ?? {})).toEqual(
      expect.arrayContaining([
        'userId',
        'taskType',
        'prompt',
        'messages',
        'template',
        'params',
        'responseFormat',
        'webhookUrl',
        'metadata',
      ]),
    );
    expect(body?.additionalProperties).toBe(false);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/generations', '/v1/jobs/{id}', '/v1/pipelines/{name}/runs']),
    );
  });
});
