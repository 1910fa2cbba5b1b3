import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobStatus } from '../schemas.ts';
import {
  createClient,
  LowburnApiError,
  LowburnNetworkError,
  LowburnTimeoutError,
} from './index.ts';

// The API played by a real HTTP server: each request gets the next scripted reply.
type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  /** Never answer. */
  | 'hang'
  /** Drop the connection without an answer. */
  | 'reset';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const servers = new Set<() => Promise<void>>();

afterEach(async () => {
  await Promise.all([...servers].map((close) => close()));
  servers.clear();
});

async function startApi(replies: Reply[] | ((n: number) => Reply)) {
  const received: Received[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const n = received.length - 1;
    const reply = typeof replies === 'function' ? replies(n) : replies[n];
    if (reply === undefined)
      throw new Error(`unscripted request #${n + 1}: ${req.method} ${req.url}`);
    if (reply === 'hang') return;
    if (reply === 'reset') {
      req.socket.destroy();
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  servers.add(close);
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, received, close };
}

const accepted = {
  id: 'generate.0123456789ab.abcdefgh',
  status: 'queued',
  statusUrl: '/v1/jobs/x',
};
const request = { userId: 'user-1', taskType: 'summary', prompt: 'Summarise this.' } as const;

function job(status: JobStatus['status'], extra: Partial<JobStatus> = {}): JobStatus {
  const finished = status === 'completed' || status === 'failed';
  return {
    id: accepted.id,
    queue: 'generate',
    status,
    progress: 0,
    result: null,
    error: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    finishedAt: finished ? '2026-01-01T00:00:01.000Z' : null,
    ...extra,
  };
}

const apiError = (status: number, code: string, message: string, headers = {}): Reply => ({
  status,
  body: { error: { code, message } },
  headers,
});

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('a lowburn client', () => {
  it('sends the API key as a bearer token and resolves with the 202 body', async () => {
    const api = await startApi([{ status: 202, body: accepted }]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.generations.create(request)).resolves.toEqual(accepted);

    const [sent] = api.received;
    expect(sent).toMatchObject({ method: 'POST', url: '/v1/generations' });
    expect(sent?.headers.authorization).toBe('Bearer lb_test');
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(sent?.body ?? '')).toEqual(request);
  });

  it('keeps the base URL’s path prefix and escapes ids', async () => {
    const api = await startApi([{ status: 200, body: job('queued') }]);
    const client = createClient({ baseUrl: `${api.url}/lowburn`, apiKey: 'lb_test' });

    await client.jobs.get('a/b');

    expect(api.received[0]?.url).toBe('/lowburn/v1/jobs/a%2Fb');
  });
});

describe('when the API answers with an error', () => {
  it('throws a LowburnApiError with its code, message and field, without retrying', async () => {
    const api = await startApi([
      {
        status: 400,
        body: { error: { code: 'invalid_request', message: 'send a prompt', field: 'prompt' } },
      },
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    const error = await client.generations.create(request).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LowburnApiError);
    expect(error).toMatchObject({
      name: 'LowburnApiError',
      status: 400,
      code: 'invalid_request',
      message: 'send a prompt',
      field: 'prompt',
      retryAfterSeconds: undefined,
    });
    expect(api.received).toHaveLength(1);
  });

  it('names a code after the status when the body is not an API error', async () => {
    const api = await startApi([{ status: 502, body: '<html>Bad Gateway</html>' }]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.jobs.get('x')).rejects.toMatchObject({
      status: 502,
      code: 'unavailable',
      message: 'HTTP 502: <html>Bad Gateway</html>',
    });
  });

  it('passes on a 404 that lists the valid pipeline names', async () => {
    const api = await startApi([
      apiError(404, 'not_found', 'no pipeline "nope"; try: export-cold'),
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_admin' });

    await expect(client.pipelines.run('nope')).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('export-cold'),
    });
    expect(api.received[0]).toMatchObject({ url: '/v1/pipelines/nope/runs', body: '{}' });
  });
});

describe('retries', () => {
  it('waits out a 429’s Retry-After, then succeeds', async () => {
    const api = await startApi([
      apiError(429, 'rate_limited', 'slow down', {
        'retry-after': '1',
        'ratelimit-remaining': '0',
      }),
      { status: 202, body: accepted },
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    const started = Date.now();
    await expect(client.generations.create(request)).resolves.toEqual(accepted);

    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(api.received).toHaveLength(2);
  });

  it('throws a 429 at once when its Retry-After is longer than the client will sleep', async () => {
    const api = await startApi([
      apiError(429, 'rate_limited', 'slow down', { 'retry-after': '60' }),
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.jobs.get('x')).rejects.toMatchObject({
      code: 'rate_limited',
      retryAfterSeconds: 60,
    });
    expect(api.received).toHaveLength(1);
  });

  it('retries a 503 with backoff, and gives up after `retries`', async () => {
    const api = await startApi(() => apiError(503, 'unavailable', 'Redis is unavailable'));
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test', retries: 2 });

    await expect(client.jobs.get('x')).rejects.toMatchObject({ status: 503, code: 'unavailable' });
    expect(api.received).toHaveLength(3);
  });

  it('retries a dropped connection and then throws a LowburnNetworkError', async () => {
    const api = await startApi(() => 'reset');
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test', retries: 2 });

    await expect(client.jobs.get('x')).rejects.toBeInstanceOf(LowburnNetworkError);
    expect(api.received).toHaveLength(3);
  });

  it('throws a LowburnNetworkError when nothing listens, after backing off', async () => {
    const api = await startApi([]);
    await api.close();
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test', retries: 2 });

    const started = Date.now();
    const error = await client.jobs.get('x').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LowburnNetworkError);
    expect(error).toMatchObject({ name: 'LowburnNetworkError', method: 'GET' });
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
    // Two backoffs: ≥ 150 ms and ≥ 300 ms (300 ms doubling, at least half of it after jitter).
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it('retries a slow answer, then throws a LowburnTimeoutError', async () => {
    const api = await startApi(() => 'hang');
    const client = createClient({
      baseUrl: api.url,
      apiKey: 'lb_test',
      timeoutMs: 150,
      retries: 1,
    });

    await expect(client.jobs.get('x')).rejects.toMatchObject({
      name: 'LowburnTimeoutError',
      timeoutMs: 150,
    });
    expect(api.received).toHaveLength(2);
  });

  it('sends one generated Idempotency-Key across the retries of a create, a new one per create', async () => {
    const api = await startApi([
      apiError(503, 'unavailable', 'Redis is unavailable'),
      'reset',
      { status: 202, body: accepted },
      { status: 202, body: accepted },
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await client.generations.create(request);
    await client.generations.create(request);

    const keys = api.received.map((r) => r.headers['idempotency-key']);
    expect(keys[0]).toMatch(uuid);
    expect(keys.slice(0, 3)).toEqual([keys[0], keys[0], keys[0]]);
    expect(keys[3]).toMatch(uuid);
    expect(keys[3]).not.toBe(keys[0]);
  });

  it('sends the caller’s Idempotency-Key as given', async () => {
    const api = await startApi([{ status: 202, body: accepted }]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await client.generations.create(request, { idempotencyKey: 'order-42' });

    expect(api.received[0]?.headers['idempotency-key']).toBe('order-42');
  });

  it('does not repeat a pipeline run whose answer was lost, but retries its 503', async () => {
    const api = await startApi([
      'reset',
      apiError(503, 'unavailable', 'Redis is unavailable'),
      { status: 202, body: accepted },
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_admin' });

    await expect(client.pipelines.run('export-cold')).rejects.toBeInstanceOf(LowburnNetworkError);
    expect(api.received).toHaveLength(1);

    await expect(client.pipelines.run('export-cold', { day: '2026-01-01' })).resolves.toEqual(
      accepted,
    );
    expect(api.received.slice(1).map((r) => JSON.parse(r.body))).toEqual([
      { payload: { day: '2026-01-01' } },
      { payload: { day: '2026-01-01' } },
    ]);
  });
});

describe('webhooks.replay', () => {
  const replayed = {
    id: 'msg_0123456789abcdef0123456789abcdef',
    status: 'pending',
    run: 2,
    previousStatus: 'dead',
  } as const;

  it('posts to the delivery’s replay path, escaped, with no body', async () => {
    const api = await startApi([{ status: 202, body: replayed }]);
    const client = createClient({ baseUrl: `${api.url}/lowburn`, apiKey: 'lb_admin' });

    await expect(client.webhooks.replay('msg_a/b')).resolves.toEqual(replayed);

    expect(api.received[0]).toMatchObject({
      method: 'POST',
      url: '/lowburn/v1/webhooks/msg_a%2Fb/replay',
      body: '',
    });
  });

  it('does not repeat a replay whose answer was lost, but retries its 503', async () => {
    const api = await startApi([
      'reset',
      apiError(503, 'unavailable', 'the webhook ledger is unavailable'),
      { status: 202, body: replayed },
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_admin' });

    await expect(client.webhooks.replay(replayed.id)).rejects.toBeInstanceOf(LowburnNetworkError);
    expect(api.received).toHaveLength(1);

    await expect(client.webhooks.replay(replayed.id)).resolves.toEqual(replayed);
    expect(api.received).toHaveLength(3);
  });

  it('rejects an empty id without sending anything', async () => {
    const api = await startApi([]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_admin' });

    await expect(client.webhooks.replay('')).rejects.toThrow(/id must be a non-empty string/);
    expect(api.received).toHaveLength(0);
  });
});

describe('jobs.wait', () => {
  it('polls until the job completes and returns its status', async () => {
    const done = job('completed', { progress: 100, result: { text: 'ok' } });
    const api = await startApi([
      { status: 200, body: job('queued') },
      { status: 200, body: job('active', { progress: 50 }) },
      { status: 200, body: done },
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(
      client.jobs.wait(accepted.id, { timeoutMs: 5_000, pollIntervalMs: 20 }),
    ).resolves.toEqual(done);
    expect(api.received.map((r) => r.url)).toEqual(Array(3).fill(`/v1/jobs/${accepted.id}`));
  });

  it('returns a failed job instead of throwing', async () => {
    const failed = job('failed', { error: 'model refused' });
    const api = await startApi([{ status: 200, body: failed }]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.jobs.wait(accepted.id, { timeoutMs: 5_000 })).resolves.toEqual(failed);
  });

  it('keeps polling through a 503', async () => {
    const api = await startApi([
      { status: 200, body: job('active') },
      apiError(503, 'unavailable', 'Redis is unavailable'),
      { status: 200, body: job('completed') },
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test', retries: 0 });

    await expect(
      client.jobs.wait(accepted.id, { timeoutMs: 5_000, pollIntervalMs: 20 }),
    ).resolves.toMatchObject({ status: 'completed' });
  });

  it('throws a 404 at once', async () => {
    const api = await startApi([apiError(404, 'not_found', 'no such job')]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.jobs.wait('nope', { timeoutMs: 5_000 })).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('throws a LowburnTimeoutError with the last status when the job outlasts timeoutMs', async () => {
    const api = await startApi(() => ({ status: 200, body: job('active', { progress: 10 }) }));
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    const started = Date.now();
    const error = await client.jobs
      .wait(accepted.id, { timeoutMs: 300, pollIntervalMs: 20 })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LowburnTimeoutError);
    expect(error).toMatchObject({ timeoutMs: 300, job: { status: 'active', progress: 10 } });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('ends a poll that is still in flight at the deadline', async () => {
    const api = await startApi(() => 'hang');
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    const started = Date.now();
    await expect(client.jobs.wait(accepted.id, { timeoutMs: 200 })).rejects.toMatchObject({
      name: 'LowburnTimeoutError',
      job: undefined,
    });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('an abort signal', () => {
  const abortSoon = () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    return controller.signal;
  };

  it('ends a request in flight with the signal’s AbortError', async () => {
    const api = await startApi(() => 'hang');
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    const started = Date.now();
    await expect(client.jobs.get('x', { signal: abortSoon() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('ends the wait for a Retry-After', async () => {
    const api = await startApi([
      apiError(429, 'rate_limited', 'slow down', { 'retry-after': '5' }),
    ]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    const started = Date.now();
    await expect(client.generations.create(request, { signal: abortSoon() })).rejects.toMatchObject(
      { name: 'AbortError' },
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('ends jobs.wait between polls', async () => {
    const api = await startApi(() => ({ status: 200, body: job('active') }));
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(
      client.jobs.wait(accepted.id, {
        timeoutMs: 5_000,
        pollIntervalMs: 1_000,
        signal: abortSoon(),
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(api.received).toHaveLength(1);
  });

  it('rejects at once when already aborted, sending nothing', async () => {
    const api = await startApi([]);
    const client = createClient({ baseUrl: api.url, apiKey: 'lb_test' });

    await expect(client.jobs.get('x', { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(api.received).toHaveLength(0);
  });
});
