import { afterEach, describe, expect, it } from 'vitest';
import { replayDeliveries } from '../../shared/webhooks/replay.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { OpenResources, startRecordingReceiver } from '../../test/fixtures/webhook-servers.ts';
import {
  delivery,
  settled,
  useWebhookWorker,
  webhookKey,
} from '../../test/fixtures/webhook-worker.ts';

const open = new OpenResources();
afterEach(() => open.closeAll());

describe('an endpoint that fails every attempt for WEBHOOK_DISABLE_AFTER', () => {
  const database = useTestDatabase();
  // Disabled after 400 ms of failures; retries every 100 ms, far more of them than needed.
  const worker = useWebhookWorker(database, {
    WEBHOOK_ALLOW_LIST: '127.0.0.1/32',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_DISABLE_AFTER: '400ms',
    WEBHOOK_RETRY_SCHEDULE: `0s,${Array(40).fill('100ms').join(',')}`,
  });
  const endpointRow = (apiKeyId: string, url: string) =>
    database.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('api_key_id', '=', apiKeyId)
      .where('endpoint', '=', new URL(url).origin)
      .executeTakeFirst();

  it('is disabled: its pending deliveries end disabled, later ones are not attempted, and a replay re-enables it', async () => {
    const key = await webhookKey(database.db);
    let up = false;
    const hooks = open.track(
      await startRecordingReceiver((_req, res) => res.writeHead(up ? 200 : 503).end()),
    );
    // Another path on the same origin: the same endpoint.
    const sibling = `${hooks.url.replace('/hooks', '/other')}`;
    const first = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
    const second = await worker.enqueue({ apiKeyId: key.id, url: sibling });

    const ended = await settled(database.db, first, ['disabled'], { timeoutMs: 10_000 });
    const endedToo = await settled(database.db, second, ['disabled']);

    expect(ended.last_error).toMatch(
      /endpoint http:\/\/127\.0\.0\.1:\d+ disabled for this API key/,
    );
    expect(endedToo.last_error).toBe(ended.last_error);
    // Attempts 400 ms apart at least: the first failure, and the one that disabled it.
    expect(ended.attempts + endedToo.attempts).toBeGreaterThanOrEqual(2);
    expect(ended.next_attempt_at).toBeNull();
    const row = await endpointRow(key.id, hooks.url);
    expect(row?.disabled_at).toBeInstanceOf(Date);
    expect(await worker.metrics()).toMatch(/^lowburn_webhook_endpoints_disabled_total [1-9]/m);
    expect(await worker.metrics()).toMatch(
      /^lowburn_webhook_abandoned_total\{status="disabled"\} [1-9]/m,
    );

    const sentBefore = hooks.requests.length;
    const later = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
    const closed = await settled(database.db, later, ['disabled']);
    expect(closed).toMatchObject({ attempts: 0 });
    expect(closed.last_error).toMatch(/^not attempted: endpoint .* disabled/);
    expect(hooks.requests).toHaveLength(sentBefore);

    up = true;
    await replayDeliveries({ db: database.db }, [first.id]);
    expect(await settled(database.db, first, ['succeeded'])).toMatchObject({ run: 1 });
    expect(await endpointRow(key.id, hooks.url)).toMatchObject({
      disabled_at: null,
      failing_since: null,
    });
    const after = await worker.enqueue({ apiKeyId: key.id, url: sibling });
    expect(await settled(database.db, after)).toMatchObject({ status: 'succeeded' });
  });

  it('is not disabled while any attempt succeeds, and never for another key', async () => {
    const key = await webhookKey(database.db);
    const other = await webhookKey(database.db, 'another app');
    // Every other request fails: the failures never run 400 ms without a success between.
    const hooks = open.track(
      await startRecordingReceiver((_req, res, n) => res.writeHead(n % 2 ? 200 : 503).end()),
    );
    const sent = [];
    for (let i = 0; i < 6; i++) {
      sent.push(await worker.enqueue({ apiKeyId: key.id, url: hooks.url }));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    for (const d of sent)
      expect(await settled(database.db, d)).toMatchObject({ status: 'succeeded' });
    expect((await endpointRow(key.id, hooks.url))?.disabled_at ?? null).toBeNull();
    expect(await endpointRow(other.id, hooks.url)).toBeUndefined();
    expect((await delivery(database.db, sent[0]!.id)).status).toBe('succeeded');
  });
});
