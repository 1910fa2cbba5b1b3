import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../api/client/verify-webhook.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import {
  OpenResources,
  type ReceivedRequest,
  startRecordingReceiver,
  startSentinel,
} from '../../test/fixtures/webhook-servers.ts';
import {
  attempts,
  settled,
  useWebhookWorker,
  webhookKey,
} from '../../test/fixtures/webhook-worker.ts';

const open = new OpenResources();
afterEach(() => open.closeAll());

const receiver = async (...args: Parameters<typeof startRecordingReceiver>) =>
  open.track(await startRecordingReceiver(...args));

/** What the `standardwebhooks` package makes of a request: it throws unless the signature holds. */
const verifiedByStandardWebhooks = (secret: string, request: ReceivedRequest) =>
  new Webhook(secret).verify(request.body, request.headers as Record<string, string>);

describe('deliver-webhook, through a real worker, to a real receiver', () => {
  const database = useTestDatabase();
  // Short on purpose: two retries 150 ms apart, a 400 ms whole-request limit.
  const worker = useWebhookWorker(database, {
    WEBHOOK_ALLOW_LIST: '127.0.0.1/32',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_RETRY_SCHEDULE: '0s,150ms,150ms',
    WEBHOOK_TIMEOUT: '400ms',
  });

  describe('when the receiver answers 2xx at once', () => {
    it('delivers once, signed so that standardwebhooks and verifyWebhook accept it', async () => {
      const key = await webhookKey(database.db);
      const hooks = await receiver((_req, res) => res.writeHead(204).end());

      const enqueued = await worker.enqueue({
        apiKeyId: key.id,
        url: hooks.url,
        jobId: 'generate.0123456789ab.first',
        event: {
          type: 'generation.completed',
          result: { text: 'a title' },
          metadata: { orderId: 7 },
          createdAt: '2026-03-01T10:00:00Z',
          finishedAt: '2026-03-01T10:00:02Z',
        },
      });
      const row = await settled(database.db, enqueued);

      expect(row).toMatchObject({ status: 'succeeded', attempts: 1, last_status_code: 204 });
      expect(row.delivered_at).toBeInstanceOf(Date);
      expect(await attempts(database.db, enqueued.id)).toEqual([
        expect.objectContaining({ attempt: 1, status_code: 204, error: null }),
      ]);
      const [request] = hooks.requests;
      expect(hooks.requests).toHaveLength(1);
      expect(request?.headers).toMatchObject({
        'content-type': 'application/json',
        'webhook-id': enqueued.id,
        'user-agent': 'lowburn-webhooks/1',
      });
      const event = {
        type: 'generation.completed',
        timestamp: '2026-03-01T10:00:02.000Z',
        data: {
          jobId: 'generate.0123456789ab.first',
          status: 'completed',
          result: { text: 'a title' },
          error: null,
          metadata: { orderId: 7 },
          createdAt: '2026-03-01T10:00:00.000Z',
          finishedAt: '2026-03-01T10:00:02.000Z',
        },
      };
      expect(verifiedByStandardWebhooks(key.secret, request!)).toEqual(event);
      expect(await verifyWebhook(request!.body, request!.headers, key.secret)).toEqual(event);
      const metrics = await worker.metrics();
      expect(metrics).toMatch(/^lowburn_webhook_attempts_total \d+$/m);
      expect(metrics).toMatch(/^lowburn_webhook_successes_total [1-9]\d*$/m);
      expect(metrics).toMatch(/^lowburn_webhook_delivery_latency_seconds_count [1-9]/m);
    });

    it('keeps one delivery when the generation enqueues the same event twice', async () => {
      const key = await webhookKey(database.db);
      const hooks = await receiver((_req, res) => res.writeHead(200).end('ok'));
      const input = { apiKeyId: key.id, url: hooks.url, jobId: 'generate.0123456789ab.twice' };

      const first = await worker.enqueue(input);
      await settled(database.db, first);
      const again = await worker.enqueue(input);

      expect(again).toEqual({ id: first.id, created: false, queued: false });
      expect(hooks.requests).toHaveLength(1);
    });

    it('sends generation.failed with its error', async () => {
      const key = await webhookKey(database.db);
      const hooks = await receiver((_req, res) => res.writeHead(200).end());

      const enqueued = await worker.enqueue({
        apiKeyId: key.id,
        url: hooks.url,
        event: { type: 'generation.failed', error: { code: 'model_error', message: 'no answer' } },
      });
      await settled(database.db, enqueued, ['succeeded']);

      expect(JSON.parse(hooks.requests[0]?.body ?? '')).toMatchObject({
        type: 'generation.failed',
        data: {
          status: 'failed',
          result: null,
          error: { code: 'model_error', message: 'no answer' },
        },
      });
    });
  });

  describe('when the receiver fails once with 500 and Retry-After: 1', () => {
    it('retries after a second with the same webhook-id, a new timestamp and signature', async () => {
      const key = await webhookKey(database.db);
      const hooks = await receiver((_req, res, n) =>
        n === 0 ? res.writeHead(500, { 'retry-after': '1' }).end('busy') : res.writeHead(200).end(),
      );

      const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
      const row = await settled(database.db, enqueued);

      expect(row).toMatchObject({ status: 'succeeded', attempts: 2, last_status_code: 200 });
      expect(await attempts(database.db, enqueued.id)).toEqual([
        expect.objectContaining({ attempt: 1, status_code: 500, error: 'HTTP 500: busy' }),
        expect.objectContaining({ attempt: 2, status_code: 200, error: null }),
      ]);
      const [first, second] = hooks.requests as [ReceivedRequest, ReceivedRequest];
      // Retry-After (1 s) outweighs the schedule's 150 ms.
      expect(second.at - first.at).toBeGreaterThanOrEqual(950);
      expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
      expect(second.headers['webhook-timestamp']).not.toBe(first.headers['webhook-timestamp']);
      expect(second.headers['webhook-signature']).not.toBe(first.headers['webhook-signature']);
      expect(second.body).toBe(first.body);
      for (const request of [first, second]) {
        expect(verifiedByStandardWebhooks(key.secret, request)).toMatchObject({
          type: 'generation.completed',
        });
      }
    });
  });

  describe('when the receiver keeps failing', () => {
    it('follows the schedule, then dead-letters the delivery', async () => {
      const key = await webhookKey(database.db);
      const hooks = await receiver((_req, res) => res.writeHead(503).end());

      const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
      const row = await settled(database.db, enqueued);

      expect(row).toMatchObject({ status: 'dead', attempts: 3, next_attempt_at: null });
      const gaps = hooks.requests.slice(1).map((r, i) => r.at - (hooks.requests[i]?.at ?? 0));
      expect(gaps).toHaveLength(2);
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(140);
      expect(await worker.metrics()).toMatch(/^lowburn_webhook_dead_letters_total [1-9]/m);
    });

    it('gives up at once on a 4xx other than 408 and 429', async () => {
      const key = await webhookKey(database.db);
      const hooks = await receiver((_req, res) => res.writeHead(400).end('bad'));

      const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });

      expect(await settled(database.db, enqueued)).toMatchObject({
        status: 'failed',
        attempts: 1,
        last_status_code: 400,
      });
      expect(await worker.metrics()).toMatch(
        /^lowburn_webhook_failures_total\{reason="http_4xx"\} [1-9]/m,
      );
    });
  });

  describe('when the receiver does not answer in time', () => {
    it('records a timeout and retries', async () => {
      const key = await webhookKey(database.db);
      // The first request is left hanging; the retry is answered.
      const hooks = await receiver((_req, res, n) => n > 0 && res.writeHead(200).end());

      const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
      const row = await settled(database.db, enqueued);

      expect(row).toMatchObject({ status: 'succeeded', attempts: 2 });
      const [timedOut] = await attempts(database.db, enqueued.id);
      expect(timedOut).toMatchObject({ status_code: null });
      expect(timedOut?.error).toMatch(/sent no complete response within 400 ms/);
      expect(timedOut?.duration_ms).toBeGreaterThanOrEqual(390);
      expect(timedOut?.duration_ms).toBeLessThan(1_500);
    });

    it('cuts a body dripped a byte at a time at the same deadline', async () => {
      const key = await webhookKey(database.db);
      const timers = new Set<NodeJS.Timeout>();
      open.track({ close: () => timers.forEach(clearInterval) });
      const hooks = await receiver((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('.'), 50);
        timers.add(timer);
        res.on('close', () => clearInterval(timer));
      });

      const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
      const row = await settled(database.db, enqueued);

      expect(row).toMatchObject({ status: 'dead', attempts: 3 });
      for (const attempt of await attempts(database.db, enqueued.id)) {
        expect(attempt.error).toMatch(/within 400 ms/);
        expect(attempt.duration_ms).toBeLessThan(1_500);
      }
    });
  });

  describe('when the receiver redirects to another local address', () => {
    it('does not follow the redirect', async () => {
      const key = await webhookKey(database.db);
      // 127.0.0.1 is allowed here, so only "never follow a redirect" keeps the sentinel quiet.
      const trap = open.track(await startSentinel('127.0.0.1'));
      const hooks = await receiver((_req, res) =>
        res.writeHead(302, { location: `http://127.0.0.1:${trap.port}/admin` }).end(),
      );

      const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
      const row = await settled(database.db, enqueued);

      expect(row).toMatchObject({ status: 'dead', attempts: 3, last_status_code: 302 });
      expect(trap.connections).toBe(0);
    });
  });

  describe('when the receiver answers with a 10 MB body', () => {
    it('reads only the cap, drops the connection, and counts the 2xx', async () => {
      const key = await webhookKey(database.db);
      let finished: boolean | undefined;
      const hooks = await receiver((_req, res) => {
        res.on('close', () => {
          finished = res.writableFinished;
        });
        res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
        res.end(Buffer.alloc(10 * 1024 * 1024, 'x'));
      });

      const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
      const row = await settled(database.db, enqueued);

      expect(row).toMatchObject({ status: 'succeeded', attempts: 1, last_status_code: 200 });
      await expect.poll(() => finished).toBe(false);
    });
  });

  describe('when the receiver answers 410 Gone', () => {
    it("disables the URL for that key: later deliveries to it are not attempted, other keys' are", async () => {
      const key = await webhookKey(database.db);
      const other = await webhookKey(database.db, 'another app');
      const hooks = await receiver((_req, res, n) => res.writeHead(n === 0 ? 410 : 200).end());

      const gone = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
      expect(await settled(database.db, gone)).toMatchObject({
        status: 'disabled',
        attempts: 1,
        last_status_code: 410,
      });
      const later = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
      const elsewhere = await worker.enqueue({ apiKeyId: other.id, url: hooks.url });

      expect(await settled(database.db, later)).toMatchObject({ status: 'disabled', attempts: 0 });
      expect((await settled(database.db, later)).last_error).toMatch(/answered 410 Gone/);
      expect(await settled(database.db, elsewhere)).toMatchObject({ status: 'succeeded' });
      expect(hooks.requests.map((r) => r.headers['webhook-id'])).toEqual([gone.id, elsewhere.id]);
    });
  });
});
