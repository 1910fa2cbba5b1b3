import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_KEY_ID } from '../../shared/alerts/operator-key.ts';
import { dayFrom, recordingLog, seedCostDay, seedLayers } from '../../test/fixtures/alerts.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { startRecordingReceiver } from '../../test/fixtures/webhook-servers.ts';
import { deliverWebhookJob } from '../deliver-webhook/index.ts';
import { dispatchWebhooksJob } from '../dispatch-webhooks/index.ts';
import { sendDigestJob } from './index.ts';

const secret = `whsec_${randomBytes(32).toString('base64')}`;

describe('send-digest, through a real worker, to a real receiver', () => {
  const database = useTestDatabase();
  const recorded = recordingLog();
  let receiver: Awaited<ReturnType<typeof startRecordingReceiver>>;
  beforeAll(async () => {
    receiver = await startRecordingReceiver((_req, res) => res.writeHead(200).end('ok'));
  });
  afterAll(() => receiver.close());
  const worker = useJobWorker(
    database,
    {
      'send-digest': sendDigestJob,
      'deliver-webhook': deliverWebhookJob,
      'dispatch-webhooks': dispatchWebhooksJob,
    },
    () => ({
      WEBHOOK_ALLOW_LIST: '127.0.0.1/32',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_DISPATCH_EVERY: '200ms',
      CPAU_TARGET_USD: '0.05',
      ALERT_WEBHOOK_URL: receiver.url,
      ALERT_WEBHOOK_SECRET: secret,
    }),
    { log: recorded.log },
  );

  it('is scheduled at DIGEST_CRON, 08:00 by default', async () => {
    const scheduler = await worker.queues.get(sendDigestJob).getJobScheduler('send-digest');
    expect(scheduler).toMatchObject({ pattern: '0 8 * * *', tz: 'UTC' });
  });

  it("sends yesterday's figures as one signed digest.daily event and an info line", async () => {
    const now = new Date();
    const yesterday = dayFrom(now, -1);
    // 4 users, $0.10 total: CPAU $0.025, a quarter of it tokens.
    await seedCostDay(database.db, yesterday, { cpau: 0.025, activeUsers: 4, tokenUsd: 0.04 });
    await seedLayers(database.db, yesterday, { exact: 30, semantic: 10, local: 50 }, 'a');
    await seedLayers(database.db, yesterday, { precomputed: 5, 'fallback:timeout': 5 }, 'b');
    const firedAt = new Date(`${yesterday}T09:00:00Z`);
    await database.db
      .insertInto('alerts')
      .values([
        { condition: 'queue-lag', day: yesterday, fired_at: firedAt, details: '{}' },
        { condition: 'dead-letter', day: yesterday, fired_at: firedAt, details: '{}' },
      ])
      .execute();
    await database.db
      .updateTable('alerts')
      .set({ resolved_at: new Date(`${yesterday}T09:05:00Z`) })
      .where('condition', '=', 'queue-lag')
      .execute();

    for (let run = 0; run < 2; run++) {
      const job = await worker.queues.add(sendDigestJob, {});
      await waitUntil(async () => (await job.getState()) === 'completed', 15_000, 'digest sent');
    }
    await waitUntil(async () => receiver.requests.length >= 1, 15_000, 'digest received');
    await waitUntil(
      async () =>
        (
          await database.db
            .selectFrom('webhook_deliveries')
            .select('status')
            .where('api_key_id', '=', OPERATOR_KEY_ID)
            .execute()
        ).every((d) => d.status === 'succeeded'),
      15_000,
      'delivery settled',
    );

    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    if (!request) throw new Error('no request');
    const event = new Webhook(secret).verify(
      request.body,
      request.headers as Record<string, string>,
    );
    expect(event).toEqual({
      type: 'digest.daily',
      timestamp: expect.any(String),
      data: {
        day: yesterday,
        cpauUsd: 0.025,
        cpauTargetUsd: 0.05,
        totalUsd: 0.1,
        activeUsers: 4,
        costUsd: { tokens: 0.04, fleet: 0.03, database: 0, model: 0.03, storage: 0, requests: 0 },
        generations: 100,
        hitRates: { precomputed: 0.05, exact: 0.3, template: 0, semantic: 0.1 },
        localShare: 0.5,
        fallbackShare: 0.05,
        alerts: { fired: ['dead-letter', 'queue-lag'], resolved: ['queue-lag'] },
      },
    });
    const lines = recorded.lines.filter((l) => l.msg === `daily digest for ${yesterday}`);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 30, digest: { cpauUsd: 0.025, activeUsers: 4 } });
  });
});
