import { Agent, request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ownerTag } from '../../api/job-ids.ts';
import { acceptedSchema, errorBodySchema, jobStatusSchema } from '../../api/schemas.ts';
import { taskTypes } from '../../shared/generation/schema.ts';
import { findUnstorable } from '../../shared/json/storable-text.ts';
import { useTestApi } from '../fixtures/api-server.ts';

// Property-based fuzz of the public API: thousands of generated requests against the real server.
// Every answer is 2xx or a JSON 4xx without a stack trace, nothing is queued for a refusal, and
// memory stays flat. Redis is up throughout, so a 503 is a failure like any other 5xx.

const RUNS = { bodies: 1_500, headers: 500, paths: 500, jobs: 500 };
const MAX_BODY = 256 * 1024;
const MB = 1024 * 1024;
// The memory test pushes ~160 MB of refused bodies through the server after the fuzz; a leak
// that keeps each request's body keeps at least that, so it grows RSS by more than 100 MB,
// while a healthy server grows it by 10–25 MB over that phase (allocator and V8 jitter).
const BULK_RSS_LIMIT = 100 * MB;
// RSS is no leak signal over the whole file: it grows 190–360 MB from the cold baseline on a
// healthy server, then stays flat (measured from 1,500 to 4,500 body cases) — V8 keeps the heap
// it reserved for big bodies after GC (heapTotal +130 MB at flat heapUsed) plus malloc's
// high-water mark. What a leak would retain shows in heapUsed, measured +3 MB here.
const HEAP_USED_LIMIT = 32 * MB;
// Marks where raw JSON text (nesting too deep for JSON.stringify to write) goes in a body.
const DEEP = '\uE000deep\uE000';

const STACK_SIGNS = [/\n\s*at /, /\bat \S+ \(/, /file:\/\//, /node:internal/, /node_modules/];
const STACK_FILE = /\.[cm]?[jt]sx?:\d+:\d+/;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
  body?: string | Uint8Array;
  /** Send without Content-Length (Transfer-Encoding: chunked). */
  chunked?: boolean;
}
interface Answer {
  status: number;
  contentType: string;
  connection: string;
  text: string;
}

/**
 * One request over node:http, so paths go out as written (fetch would normalise them). Each on
 * a fresh connection unless an `agent` is given, so a failure belongs to the request that made it.
 */
function send(base: string, sent: Sent, agent: Agent | false = false): Promise<Answer> {
  const url = new URL(base);
  const headers: Record<string, string | number> = Object.fromEntries(
    Object.entries(sent.headers).filter((e): e is [string, string] => e[1] !== undefined),
  );
  // Explicit framing: node:http sends a GET or DELETE body without a Content-Length otherwise.
  if (sent.body !== undefined && sent.chunked) headers['transfer-encoding'] = 'chunked';
  else if (sent.body !== undefined) headers['content-length'] = Buffer.byteLength(sent.body);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      { agent, host: url.hostname, port: url.port, method: sent.method, path: sent.path, headers },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            connection: String(res.headers.connection ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s (a hang)')));
    // The server may answer (413) before the whole body is written, then stop reading it.
    req.on('error', (error) => (answered ? undefined : reject(error)));
    if (sent.body === undefined) req.end();
    else if (sent.chunked) {
      req.write(sent.body);
      req.end();
    } else req.end(sent.body);
  });
}

/** What the caller sent, as text: an echo of it in a message is not a leak. */
function sentText(sent: Sent): string {
  const body =
    typeof sent.body === 'string' ? sent.body : Buffer.from(sent.body ?? []).toString('utf8');
  let path = sent.path;
  try {
    path += decodeURIComponent(sent.path);
  } catch {}
  return [path, ...Object.values(sent.headers), body].join('\n');
}

/** 2xx, or 4xx with a JSON `{ error }` body (`errorBodySchema`) carrying no stack trace. */
function expectWellFormed(sent: Sent, res: Answer): void {
  const what = `${sent.method} ${sent.path.slice(0, 200)} → ${res.status} ${res.text.slice(0, 300)}`;
  if (res.status >= 200 && res.status < 300) return;
  if (res.status < 400 || res.status >= 500) expect.fail(`neither 2xx nor 4xx: ${what}`);
  expect(res.contentType, what).toMatch(/^application\/json/);
  const body: unknown = JSON.parse(res.text || 'null');
  const parsed = errorBodySchema.safeParse(body);
  expect(parsed.error?.issues ?? [], what).toEqual([]);
  expect(Object.keys(body as object), what).toEqual(['error']);
  const echoed = sentText(sent);
  const said = strings(body).join('\n');
  for (const sign of [...STACK_SIGNS, STACK_FILE, new RegExp(escapeRegExp(process.cwd()))]) {
    const found = sign.exec(said)?.[0];
    if (found && !echoed.includes(found)) expect.fail(`stack trace in ${what}`);
  }
}

/** Every string in a JSON value. */
const strings = (value: unknown): string[] =>
  typeof value === 'string'
    ? [value]
    : value && typeof value === 'object'
      ? Object.values(value).flatMap(strings)
      : [];

/** `body` as JSON, with the raw text `raw` where the DEEP marker is. */
function serialise(body: unknown, raw = ''): string {
  const text = JSON.stringify(body) ?? '';
  return text.replace(JSON.stringify(DEEP), raw);
}
const nested = (depth: number, open: string, close: string, leaf = '1') =>
  `${open.repeat(depth)}${leaf}${close.repeat(depth)}`;

/** Prints a case as its length and first 300 characters, not a 600 KB body. */
function summarised<T extends { body: string | Uint8Array }>(c: T): T {
  const text = typeof c.body === 'string' ? c.body : `0x${Buffer.from(c.body).toString('hex')}`;
  const shown = { ...c, body: `${text.slice(0, 300)}${text.length > 300 ? '…' : ''}` };
  return Object.assign(c, {
    [fc.toStringMethod]: () => `${fc.stringify(shown)} (body ${text.length} chars)`,
  });
}

const visibleAscii = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const latin1 = fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c));
const headerValue = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: latin1, minLength: 1, maxLength: 8 }),
);

/** Requests the API accepts, with each optional field sometimes present. */
const validRequest = fc
  .record(
    {
      userId: fc.string({ minLength: 1, maxLength: 60 }),
      taskType: fc.constantFrom(...taskTypes),
      input: fc.oneof(
        fc.record({ prompt: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }) }),
        fc.record({
          messages: fc.array(
            fc.record({
              role: fc.constantFrom('system', 'user', 'assistant'),
              content: fc.string({ unit: 'binary', minLength: 1, maxLength: 50 }),
            }),
            { minLength: 1, maxLength: 4 },
          ),
        }),
        fc.record(
          {
            template: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/),
            params: fc.dictionary(
              fc.string({ maxLength: 20 }),
              fc.oneof(fc.string(), fc.double(), fc.boolean(), fc.constant(null)),
            ),
          },
          { requiredKeys: ['template'] },
        ),
      ),
      responseFormat: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
      webhookUrl: fc.constantFrom('https://hooks.example.com/lowburn', 'http://127.0.0.1:9/x'),
      metadata: fc.dictionary(fc.string({ maxLength: 30 }), fc.jsonValue({ maxDepth: 3 })),
    },
    { requiredKeys: ['userId', 'taskType', 'input'] },
  )
  .map(({ input, ...rest }) => ({ ...rest, ...input }) as Record<string, unknown>)
  // Text Postgres cannot store (NUL, lone surrogates) is refused with a 422 of its own; the
  // `strange` values below put it into near-valid requests.
  .filter((request) => findUnstorable(request) === undefined);

const fields = ['userId', 'taskType', 'prompt', 'messages', 'template', 'params', 'metadata'];
/** Values that do not belong where they are put. */
const strange = fc.oneof(
  fc.anything(),
  fc.jsonValue(),
  fc.integer({ min: 0, max: 400_000 }).map((n) => 'x'.repeat(n)),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('\ud800', '\u0000', '𝕏'.repeat(201), '12', '-0', 'NaN', 'null', 'true', '[]'),
  fc.array(fc.object(), { maxLength: 3 }),
  fc.constant(DEEP),
);

/** A valid request with one field removed, replaced, or added. */
const nearValid = fc
  .tuple(
    validRequest,
    fc.constantFrom('remove', 'replace', 'add'),
    fc.constantFrom(...fields),
    fc.string(),
    strange,
    fc.integer({ min: 1, max: 100_000 }),
  )
  .map(([request, how, field, extra, value, depth]) => {
    const body = { ...request };
    if (how === 'remove') delete body[field];
    else body[how === 'add' ? extra : field] = value;
    return serialise(body, nested(depth, '[', ']'));
  });

/** JSON nested deep: as the body, or under an object-valued field of a valid request. */
const deepBody = fc
  .tuple(
    fc.constantFrom('body', 'metadata', 'responseFormat'),
    fc.integer({ min: 1, max: 120_000 }),
    fc.boolean(),
  )
  .map(([where, depth, arrays]) => {
    const raw = arrays ? nested(depth, '[', ']') : nested(depth, '{"a":', '}');
    if (where === 'body') return raw;
    return serialise(
      { userId: 'deep', taskType: 'summary', prompt: 'p', [where]: { x: DEEP } },
      raw,
    );
  });

const jsonType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/ld+json'),
);
const anyType = fc.oneof(
  jsonType,
  fc.constantFrom(undefined, '', 'text/plain', 'application/jsonx', 'application/octet-stream'),
  fc.constantFrom('application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'),
  headerValue,
);

interface BodyCase {
  body: string | Uint8Array;
  type: string | undefined;
  /** A request the schema accepts, sent as JSON: it must be answered 202. */
  valid?: true;
}
/** A body for `POST /v1/generations`. */
const generationBody: fc.Arbitrary<BodyCase> = fc
  .oneof(
    fc.record({
      body: validRequest.map((r) => JSON.stringify(r)),
      type: jsonType,
      valid: fc.constant(true as const),
    }),
    fc.record({ body: nearValid, type: jsonType }),
    fc.record({ body: deepBody, type: jsonType }),
    fc.record({ body: fc.json(), type: anyType }),
    fc.record({ body: fc.anything().map((v) => JSON.stringify(v) ?? ''), type: anyType }),
    fc.record({ body: fc.string({ unit: 'binary', maxLength: 500 }), type: anyType }),
    fc.record({ body: fc.uint8Array({ maxLength: 2_000 }), type: anyType }),
  )
  .map(summarised);

const segment = fc.oneof(
  fc.constantFrom('v1', 'generations', 'jobs', 'pipelines', 'runs', 'maintain-partitions', 'cache'),
  fc.constantFrom('telemetry', 'flush-telemetry'),
  fc.constantFrom('openapi.json', 'healthz', 'readyz', 'constructor', '__proto__', 'toString'),
  fc.constantFrom('..', '.', '', '%2e%2e', '%2F', '%5C', '%00', '%zz', '%', '%E2%82', '%C0%AF'),
  fc.string({ unit: visibleAscii, maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }).map(encodeURIComponent),
  fc.integer({ min: 100, max: 1_500 }).map((n) => 'a'.repeat(n)),
);
// Node refuses request lines over 16 KB itself (431, before the app), so paths stay under that.
const anyPath = fc.oneof(
  fc
    .tuple(fc.constantFrom('/v1/', '/', '//', '/V1/', '/v1//'), fc.array(segment, { maxLength: 6 }))
    .map(([root, segments]) => root + segments.join('/')),
  fc.integer({ min: 2_000, max: 10_000 }).map((n) => `/v1/${'x'.repeat(n)}`),
);

/** RSS and used heap after a full GC; exposes `gc` when the process was not started with it. */
function memoryAfterGc(): { rss: number; heapUsed: number } {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

describe('the public API under fuzzing', () => {
  const t = useTestApi({
    RATE_LIMIT_PER_KEY: '100000',
    RATE_LIMIT_PER_USER: '100000',
    // No heavy-user tiers: a fuzzed userId that repeats must not turn into 429s.
    RATE_LIMIT_USER_TIERS: '',
    AUTH_FAILURES_PER_IP: '1000000',
  });
  let key: { id: string; key: string };
  let cold = { rss: 0, heapUsed: 0 };
  /** Ids of the generate jobs answered with 202 (an idempotent replay answers a known id). */
  const accepted = new Set<string>();

  const auth = () => ({ authorization: `Bearer ${key.key}`, 'content-type': 'application/json' });
  const enqueued = async () =>
    Object.values(await t.queue('generate').getJobCounts()).reduce((sum, n) => sum + n, 0);

  /** Sends, checks the answer is well formed, and that only a new 202 added a generate job. */
  async function exchange(sent: Sent): Promise<Answer> {
    const before = await enqueued();
    const res = await send(t.api.url, sent);
    expectWellFormed(sent, res);
    let added = 0;
    const id = res.status === 202 ? acceptedSchema.safeParse(JSON.parse(res.text)).data?.id : '';
    if (id?.startsWith('generate.')) {
      if (!accepted.has(id)) added = 1;
      accepted.add(id);
    }
    expect((await enqueued()) - before, `jobs added by ${res.status} ${res.text}`).toBe(added);
    return res;
  }
  const generation = (body: string | Uint8Array, headers: Sent['headers'], chunked = false) =>
    exchange({ method: 'POST', path: '/v1/generations', headers, body, chunked });

  /** ~1 MB refused three ways: 422 after parsing, 400 unparseable, 413 streamed. */
  async function refuseBigBodies(i: number): Promise<void> {
    const big = 'x'.repeat(MAX_BODY - 1_024);
    await generation(JSON.stringify({ userId: `m${i}`, taskType: 'poetry', prompt: big }), auth());
    await generation(`{"userId":"m${i}",${big}`, auth());
    await generation(big + big, auth(), true);
  }

  beforeAll(async () => {
    key = await t.api.key(['generate', 'read', 'telemetry', 'admin'], 'fuzz');
    // Warm up (lazy queues, JIT, the key cache, heap for big bodies) before the baseline.
    for (let i = 0; i < 20; i++) {
      const body = JSON.stringify({ userId: `warm-${i}`, taskType: 'qa', prompt: 'p' });
      expect((await generation(body, auth())).status).toBe(202);
      if (i < 10) await refuseBigBodies(i);
    }
    cold = memoryAfterGc();
  });

  it('answers any body for POST /v1/generations with 202 or a JSON 4xx, and queues only what it accepts', async () => {
    await fc.assert(
      fc.asyncProperty(generationBody, fc.boolean(), async (c, chunked) => {
        const headers = { ...auth(), 'content-type': c.type };
        const res = await generation(c.body, headers, chunked);
        if (c.valid) expect(res.status, res.text).toBe(202);
      }),
      { numRuns: RUNS.bodies },
    );
  }, 60_000);

  it('answers any Authorization, Idempotency-Key and Content-Type with 202 or a JSON 4xx, and never 2xx without the key', async () => {
    const prefix = key.key.slice(0, 11);
    const authorization = fc.oneof(
      fc.constantFrom(undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', key.key),
      fc.constantFrom(`Bearer ${key.key}`, `bearer   ${key.key}`, `Bearer ${key.key}x`),
      fc.constantFrom(`Bearer ${key.key.slice(0, -1)}`, `Bearer ${key.key} ${key.key}`),
      fc.stringMatching(/^lb_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/).map((k) => `Bearer ${k}`),
      fc.stringMatching(/^[0-9A-Za-z]{32}$/).map((secret) => `Bearer ${prefix}_${secret}`),
      fc.integer({ min: 1_000, max: 8_000 }).map((n) => `Bearer lb_${'A'.repeat(n)}`),
      headerValue.map((v) => `Bearer ${v}`),
      headerValue,
    );
    const idempotencyKey = fc.oneof(
      fc.constant(undefined),
      fc.string({ unit: visibleAscii, minLength: 1, maxLength: 255 }),
      fc.string({ unit: visibleAscii, minLength: 256, maxLength: 1_000 }),
      headerValue,
    );
    const headers = fc.record({
      authorization,
      'idempotency-key': idempotencyKey,
      'content-type': anyType,
      'x-forwarded-for': fc.option(headerValue, { nil: undefined }),
    });
    const body = fc.oneof(
      { weight: 3, arbitrary: validRequest.map((r) => JSON.stringify(r)) },
      generationBody.map((c) => c.body),
    );
    await fc.assert(
      fc.asyncProperty(headers, body, async (headers, body) => {
        const res = await generation(body, headers);
        // Node trims the header value; the size cap is checked before the key.
        const presented = /^Bearer\s+(\S+)$/i.exec(headers.authorization?.trim() ?? '')?.[1];
        if (presented !== key.key) expect([401, 413, 429], res.text).toContain(res.status);
      }),
      { numRuns: RUNS.headers },
    );
  }, 60_000);

  it('answers any method and path with 2xx or a JSON 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
        anyPath,
        fc.boolean(),
        fc.option(fc.json(), { nil: undefined }),
        async (method, path, withKey, body) => {
          const headers = withKey ? auth() : { 'content-type': 'application/json' };
          await exchange({ method, path, headers, body: method === 'GET' ? undefined : body });
        },
      ),
      { numRuns: RUNS.paths },
    );
  }, 60_000);

  it('answers GET /v1/jobs/<any id> with the job when this key created it, else a JSON 404', async () => {
    const ids = [...accepted];
    const shaped = fc
      .tuple(
        fc.oneof(
          fc.constantFrom('generate', 'maintain-partitions', 'constructor', 'export-cold'),
          fc.stringMatching(/^[a-z0-9-]{1,64}$/),
        ),
        fc.oneof(fc.constant(ownerTag(key.id)), fc.stringMatching(/^[0-9a-f]{12}$/)),
        fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/),
      )
      .map((parts) => parts.join('.'));
    const id = fc.oneof(
      fc.constantFrom(...ids),
      shaped,
      fc.string({ unit: 'grapheme', maxLength: 300 }),
      fc.string({ unit: visibleAscii, maxLength: 100 }),
    );
    await fc.assert(
      fc.asyncProperty(id, async (id) => {
        const path = `/v1/jobs/${encodeURIComponent(id)}`;
        const res = await exchange({ method: 'GET', path, headers: auth() });
        if (ids.includes(id)) {
          expect(res.status, res.text).toBe(200);
          const status = jobStatusSchema.parse(JSON.parse(res.text));
          expect(status).toMatchObject({ id, status: 'queued' });
        } else {
          expect(res.status, res.text).toBe(404);
        }
      }),
      { numRuns: RUNS.jobs },
    );
  }, 60_000);

  it('keeps memory flat: RSS through ~160 MB of refused bodies, used heap over the whole file', async () => {
    const warm = memoryAfterGc();
    for (let i = 0; i < 160; i++) await refuseBigBodies(i);
    const after = memoryAfterGc();
    const mb = (bytes: number) => `${Math.round(bytes / MB)} MB`;
    expect(after.rss - warm.rss, `RSS grew ${mb(after.rss - warm.rss)}`).toBeLessThan(
      BULK_RSS_LIMIT,
    );
    const heap = after.heapUsed - cold.heapUsed;
    expect(heap, `heap grew ${mb(heap)}`).toBeLessThan(HEAP_USED_LIMIT);
  }, 60_000);

  describe('inputs fuzzing found', () => {
    const deepMetadata = nested(5_000, '[', ']');
    const deep = serialise(
      { userId: 'u', taskType: 'qa', prompt: 'p', metadata: { x: DEEP } },
      deepMetadata,
    );

    it('refuses JSON nested too deep to queue with a 4xx, not 503', async () => {
      for (const idempotencyKey of [undefined, 'deep-1']) {
        const res = await generation(deep, { ...auth(), 'idempotency-key': idempotencyKey });
        expect([400, 422], res.text).toContain(res.status);
      }
    });

    it('answers 404 for a job id or pipeline named like an Object.prototype property', async () => {
      const job = await exchange({
        method: 'GET',
        path: `/v1/jobs/constructor.${ownerTag(key.id)}.aaaaaaaa`,
        headers: auth(),
      });
      expect(job.status, job.text).toBe(404);
      for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
        const path = `/v1/pipelines/${name}/runs`;
        const res = await exchange({ method: 'POST', path, headers: auth(), body: '{}' });
        expect(res.status, `${name}: ${res.text}`).toBe(404);
      }
    });

    it('answers a request target the adapter refuses with a JSON 400', async () => {
      for (const path of ['/v1/\\', '/\\x']) {
        const res = await exchange({ method: 'GET', path, headers: auth() });
        expect(res.status).toBe(400);
      }
    });

    it('keeps a keep-alive connection usable after answering 413', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const path = '/v1/generations';
        const big = { method: 'POST', path, headers: auth(), body: 'x'.repeat(MAX_BODY + 1) };
        const refused = await send(t.api.url, big, agent);
        expect(refused.status).toBe(413);
        const body = JSON.stringify({ userId: 'after-413', taskType: 'qa', prompt: 'p' });
        const next = await send(
          t.api.url,
          { method: 'POST', path, headers: auth(), body },
          agent,
        ).catch((error: Error) =>
          expect.fail(
            `the next request on the connection failed (${error.message}); the 413 said ` +
              `"Connection: ${refused.connection}" and the server then closed it`,
          ),
        );
        expect(next.status).toBe(202);
        accepted.add(acceptedSchema.parse(JSON.parse(next.text)).id);
      } finally {
        agent.destroy();
      }
    });
  });

  it('queued exactly one generate job per job id it answered 202 with', async () => {
    expect(accepted.size).toBeGreaterThanOrEqual(20);
    expect(await enqueued()).toBe(accepted.size);
  });

  it('queued only payloads Postgres can store (no NUL, no lone surrogate anywhere)', async () => {
    const jobs = await t.queue('generate').getJobs(['waiting', 'prioritized', 'delayed']);
    expect(jobs.length).toBe(accepted.size);
    for (const job of jobs) expect(findUnstorable(job.data), job.id).toBeUndefined();
  });
});
