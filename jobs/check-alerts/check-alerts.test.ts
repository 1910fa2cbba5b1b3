import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_KEY_ID } from '../../shared/alerts/operator-key.ts';
import { dayFrom, recordingLog, seedCostDay } from '../../test/fixtures/alerts.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import {
  type ReceivedRequest,
  startRecordingReceiver,
} from '../../test/fixtures/webhook-servers.ts';
import { deliverWebhookJob } from '../deliver-webhook/index.ts';
import { dispatchWebhooksJob } from '../dispatch-webhooks/index.ts';
import { checkAlertsJob } from './index.ts';

const catalog = {
  'check-alerts': checkAlertsJob,
  'deliver-webhook': deliverWebhookJob,
  'dispatch-webhooks': dispatchWebhooksJob,
};
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const webhookEnv = {
  WEBHOOK_ALLOW_LIST: '127.0.0.1/32',
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_DISPATCH_EVERY: '200ms',
  CPAU_TARGET_USD: '0.05',
};

type Receiver = Awaited<ReturnType<typeof startRecordingReceiver>>;
const eventsOf = (receiver: Receiver, condition: string) =>
  receiver.requests.filter(
    (r) => (JSON.parse(r.body) as { data: { condition?: string } }).data.condition === condition,
  );
/** The event, once `standardwebhooks` has verified its signature (it throws otherwise). */
const verified = (request: ReceivedRequest) =>
  new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as {
    type: string;
    data: Record<string, unknown>;
  };

describe('check-alerts on two workers, sending to ALERT_WEBHOOK_URL', () => {
  const database = useTestDatabase();
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startRecordingReceiver((_req, res) => res.writeHead(204).end());
  });
  afterAll(() => receiver.close());
  const env = () => ({
    ...webhookEnv,
    ALERT_WEBHOOK_URL: receiver.url,
    ALERT_WEBHOOK_SECRET: secret,
  });
  const first = useJobWorker(database, catalog, env);
  // The second worker shares the first one's queues: one fleet, two processes' worth of workers.
  const second = useJobWorker(database, catalog, () => ({ ...env(), QUEUE_PREFIX: first.prefix }));

  /** Checks this worker process completed, from its `/metrics`. */
  const checksRunBy = async (worker: typeof first) =>
    Number(
      /lowburn_jobs_completed_total\{queue="check-alerts"\} (\d+)/.exec(
        await worker.metrics(),
      )?.[1] ?? 0,
    );

  /**
   * Four checks queued at once, more until each worker has run some since the last call;
   * resolves when all of them ran.
   */
  async function checkTwiceOnEach() {
    const queue = first.queues.get(checkAlertsJob);
    const before = await Promise.all([checksRunBy(first), checksRunBy(second)]);
    // Through the first worker's queues: the second's fixture queues sit under a prefix of its own.
    const jobs = await Promise.all([1, 2, 3, 4].map(() => first.queues.add(checkAlertsJob, {})));
    await waitUntil(
      async () => {
        const now = await Promise.all([checksRunBy(first), checksRunBy(second)]);
        if (now[0] > before[0] && now[1] > before[1]) return true;
        jobs.push(await first.queues.add(checkAlertsJob, {}));
        return false;
      },
      20_000,
      'both workers ran a check',
      { everyMs: 250 },
    );
    await waitUntil(
      async () =>
        (await Promise.all(jobs.map((j) => queue.getJobState(j.id as string)))).every(
          (s) => s === 'completed',
        ),
      20_000,
      'the checks completed',
      {
        explain: async () =>
          JSON.stringify(
            await Promise.all(
              jobs.map(async (j) => {
                const job = await queue.getJob(j.id as string);
                return [await job?.getState(), job?.failedReason];
              }),
            ),
          ),
      },
    );
  }

  it('is scheduled by ALERT_CRON, every minute by default', async () => {
    const scheduler = await first.queues.get(checkAlertsJob).getJobScheduler('check-alerts');
    expect(scheduler).toMatchObject({ pattern: '* * * * *' });
  });

  it('sends one signed alert.triggered, then one alert.resolved, whatever the number of checks', async () => {
    const yesterday = dayFrom(new Date(), -1);
    await seedCostDay(database.db, yesterday, { cpau: 0.08, activeUsers: 25 });
    await checkTwiceOnEach();
    await waitUntil(
      async () => eventsOf(receiver, 'cpau-above-target').length >= 1,
      15_000,
      'triggered',
    );
    expect(await second.metrics()).toContain(
      'lowburn_alert_firing{condition="cpau-above-target"} 1',
    );

    await seedCostDay(database.db, yesterday, { cpau: 0.03, activeUsers: 25 });
    await checkTwiceOnEach();
    await waitUntil(
      async () => eventsOf(receiver, 'cpau-above-target').length >= 2,
      15_000,
      'resolved',
    );
    await checkTwiceOnEach();
    // Every delivery of the operator key has ended: nothing more is on its way.
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
      'deliveries settled',
    );

    const [triggered, resolved, ...more] = eventsOf(receiver, 'cpau-above-target');
    expect(more).toEqual([]);
    if (!triggered || !resolved) throw new Error('expected two events');
    expect(verified(triggered)).toMatchObject({
      type: 'alert.triggered',
      data: {
        condition: 'cpau-above-target',
        day: dayFrom(new Date(), 0),
        details: { day: yesterday, cpauUsd: 0.08, targetUsd: 0.05, activeUsers: 25 },
      },
    });
    expect(verified(resolved)).toMatchObject({
      type: 'alert.resolved',
      data: { condition: 'cpau-above-target', details: { cpauUsd: 0.03 } },
    });
    expect(triggered.headers['webhook-id']).not.toBe(resolved.headers['webhook-id']);
    // A wrong secret does not verify: the signature is the operator's secret's.
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    expect(() =>
      new Webhook(other).verify(triggered.body, triggered.headers as Record<string, string>),
    ).toThrow();
    const rows = await database.db.selectFrom('alerts').selectAll().execute();
    expect(rows.filter((r) => r.condition === 'cpau-above-target')).toHaveLength(1);
    expect(await first.metrics()).toContain(
      'lowburn_alert_firing{condition="cpau-above-target"} 0',
    );
  });
});

describe('check-alerts without ALERT_WEBHOOK_URL', () => {
  const database = useTestDatabase();
  const recorded = recordingLog();
  const worker = useJobWorker(
    database,
    { 'check-alerts': checkAlertsJob },
    { CPAU_TARGET_USD: '0.05' },
    { log: recorded.log },
  );

  it('logs a warning line and queues no delivery', async () => {
    await sql`TRUNCATE alerts, cost_daily`.execute(database.db);
    await seedCostDay(database.db, dayFrom(new Date(), -1), { cpau: 0.5, activeUsers: 2 });
    const job = await worker.queues.add(checkAlertsJob, {});
    await waitUntil(
      async () => (await job.getState()) === 'completed',
      15_000,
      'the check completed',
    );
    const lines = recorded.lines.filter((l) => l.alert !== undefined);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: "alert: Yesterday's cost per active user is above the target band (CPAU_TARGET_USD)",
        alert: expect.objectContaining({ condition: 'cpau-above-target' }),
      }),
    ]);
    expect(lines[0]?.deliveryId).toBeUndefined();
    expect(await database.db.selectFrom('webhook_deliveries').selectAll().execute()).toEqual([]);
    expect(
      await database.db
        .selectFrom('api_keys')
        .select('id')
        .where('id', '=', OPERATOR_KEY_ID)
        .execute(),
    ).toEqual([]);
  });
});
