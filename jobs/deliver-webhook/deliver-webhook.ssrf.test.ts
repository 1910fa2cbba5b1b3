import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { ownHosts, SSRF_HOSTS } from '../../test/fixtures/ssrf-targets.ts';
import { startSentinel, type TestServer } from '../../test/fixtures/webhook-servers.ts';
import { settled, useWebhookWorker, webhookKey } from '../../test/fixtures/webhook-worker.ts';

describe('deliver-webhook with the allow-list off', () => {
  const database = useTestDatabase();
  // Clear-text allowed so that every target is judged by its address alone.
  const worker = useWebhookWorker(database, {
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_RETRY_SCHEDULE: '0s,100ms',
  });
  let trap: TestServer;
  beforeAll(async () => {
    // On `::` it also takes IPv4: it hears every local address.
    trap = await startSentinel('::');
  });
  afterAll(() => trap.close());

  it('refuses every SSRF target permanently, and the sentinel sees no connection', async () => {
    const key = await webhookKey(database.db);
    const targets = [...SSRF_HOSTS, ...ownHosts()].map(
      (host) => `http://${host}:${trap.port}/hook`,
    );

    const enqueued = await Promise.all(
      targets.map((url) => worker.enqueue({ apiKeyId: key.id, url })),
    );
    const rows = await Promise.all(enqueued.map((e) => settled(database.db, e)));

    for (const [i, row] of rows.entries()) {
      expect.soft(row, targets[i]).toMatchObject({ status: 'failed', attempts: 1 });
      expect.soft(row.last_error, targets[i]).toMatch(/is not allowed: .* is /);
    }
    expect(trap.connections).toBe(0);
    expect(await worker.metrics()).toMatch(
      /^lowburn_webhook_failures_total\{reason="blocked"\} [1-9]/m,
    );
  });
});

describe('deliver-webhook without WEBHOOK_ALLOW_HTTP', () => {
  const database = useTestDatabase();
  const worker = useWebhookWorker(database, { WEBHOOK_ALLOW_LIST: '127.0.0.1' });
  let trap: TestServer;
  beforeAll(async () => {
    trap = await startSentinel('127.0.0.1');
  });
  afterAll(() => trap.close());

  it('refuses a clear-text URL permanently, even to an allowed address', async () => {
    const key = await webhookKey(database.db);

    const enqueued = await worker.enqueue({
      apiKeyId: key.id,
      url: `http://127.0.0.1:${trap.port}/hook`,
    });

    expect(await settled(database.db, enqueued)).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_error: expect.stringMatching(/must use https:/),
    });
    expect(trap.connections).toBe(0);
  });
});
