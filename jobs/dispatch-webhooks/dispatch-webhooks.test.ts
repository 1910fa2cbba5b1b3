import { afterEach, describe, expect, it } from 'vitest';
import { endpointSlots } from '../../shared/webhooks/dispatch.ts';
import { EndpointSlots } from '../../shared/webhooks/endpoint-slots.ts';
import { deliverWebhookQueue } from '../../shared/webhooks/queue.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import {
  OpenResources,
  startReceiver,
  startRecordingReceiver,
} from '../../test/fixtures/webhook-servers.ts';
import { settled, useWebhookWorker, webhookKey } from '../../test/fixtures/webhook-worker.ts';

const open = new OpenResources();
afterEach(() => open.closeAll());

/** A receiver that reads each request and never answers, counting requests open at once. */
async function startHangingReceiver() {
  let open = 0;
  let maxOpen = 0;
  const server = await startReceiver((req) => {
    req.resume();
    maxOpen = Math.max(maxOpen, ++open);
    req.socket.once('close', () => open--);
  });
  return Object.assign(server, {
    url: `http://127.0.0.1:${server.port}/hooks`,
    get maxOpen() {
      return maxOpen;
    },
  });
}

describe('dispatch-webhooks: one endpoint cannot hurt the others', () => {
  const database = useTestDatabase();
  // 3 slots per endpoint; a hanging attempt takes 2 s, and its retry is a minute away.
  const worker = useWebhookWorker(database, {
    WEBHOOK_ALLOW_LIST: '127.0.0.1/32',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ENDPOINT_CONCURRENCY: '3',
    WEBHOOK_TIMEOUT: '2s',
    WEBHOOK_RETRY_SCHEDULE: '0s,1m',
  });
  const origin = (url: string) => new URL(url).origin;
  /** The first-attempt jobs of these deliveries that BullMQ holds, finished ones included. */
  const jobsFor = async (ids: readonly string[]) => {
    const queue = worker.queues.get(deliverWebhookQueue);
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    return jobs.filter((job) => job !== undefined);
  };
  /** The worker's endpoint slots, as a holder whose leases last `leaseMs` sees them. */
  const slotsLeasedFor = (leaseMs: number) =>
    new EndpointSlots({ redis: worker.redis, prefix: worker.prefix, cap: 3, leaseMs });
  /** Those still to run or running. */
  const unfinished = async (ids: readonly string[]) => {
    const states = await Promise.all((await jobsFor(ids)).map((job) => job.getState()));
    return states.filter((state) => state !== 'completed' && state !== 'failed');
  };

  it('lets a hanging endpoint with 200 pending deliveries hold only its 3 slots while a healthy one delivers at once', async () => {
    const key = await webhookKey(database.db);
    const dead = open.track(await startHangingReceiver());
    const healthy = open.track(
      await startRecordingReceiver((_req, res) => res.writeHead(204).end()),
    );
    const backlog = [];
    for (let i = 0; i < 200; i++)
      backlog.push(await worker.enqueue({ apiKeyId: key.id, url: dead.url }));

    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = Date.now();
      const enqueued = await worker.enqueue({ apiKeyId: key.id, url: healthy.url });
      await settled(database.db, enqueued, ['succeeded'], { timeoutMs: 5_000 });
      latencies.push(Date.now() - started);
    }

    expect(Math.max(...latencies)).toBeLessThan(1_500);
    expect(healthy.requests).toHaveLength(10);
    expect(dead.maxOpen).toBeLessThanOrEqual(3);
    const slots = await endpointSlots(worker.dispatchDeps).held({
      apiKeyId: key.id,
      endpoint: origin(dead.url),
    });
    expect(slots.length).toBeLessThanOrEqual(3);
    // Redis holds the slots' jobs only; the rest of the backlog is parked in Postgres.
    expect((await unfinished(backlog.map((b) => b.id))).length).toBeLessThanOrEqual(3);
    const pending = await database.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('api_key_id', '=', key.id)
      .where('endpoint', '=', origin(dead.url))
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow();
    expect(Number(pending.n)).toBe(200);
  });

  it('parks deliveries past the cap without a job, then drains them first attempts before retries, and reports the lag', async () => {
    const key = await webhookKey(database.db);
    const hooks = open.track(await startRecordingReceiver((_req, res) => res.writeHead(200).end()));
    const endpoint = { apiKeyId: key.id, endpoint: origin(hooks.url) };
    // Three slots held by someone else (a long lease), so everything enqueued now is parked.
    const squatter = slotsLeasedFor(60_000);
    const squatters = ['msg_s1', 'msg_s2', 'msg_s3'];
    expect(await squatter.acquire(endpoint, squatters)).toHaveLength(3);
    const firsts = [];
    for (let i = 0; i < 6; i++)
      firsts.push(await worker.enqueue({ apiKeyId: key.id, url: hooks.url }));
    const retries = [];
    for (let i = 0; i < 3; i++)
      retries.push(await worker.enqueue({ apiKeyId: key.id, url: hooks.url }));
    // Make the last three retries (an attempt made), due a minute before the first attempts.
    await database.db
      .updateTable('webhook_deliveries')
      .set({ run_attempts: 1, attempts: 1, next_attempt_at: new Date(Date.now() - 60_000) })
      .where(
        'id',
        'in',
        retries.map((r) => r.id),
      )
      .execute();

    expect(await jobsFor([...firsts, ...retries].map((d) => d.id))).toEqual([]);
    await expect
      .poll(async () => lagOf(await worker.metrics(), 'healthy'), { timeout: 5_000 })
      .toBeGreaterThan(50);
    expect(hooks.requests).toHaveLength(0);

    for (const id of squatters) await squatter.release(endpoint, id);
    for (const d of [...firsts, ...retries]) {
      await settled(database.db, d, ['succeeded'], { timeoutMs: 10_000 });
    }

    // Each got a slot (its attempt job was added) in priority order: every first attempt before
    // any retry. The receiver's arrival order is not that order: three attempts run at once, and
    // on a loaded machine the sixth first attempt's job can start after a retry's.
    // The ledger says `succeeded` from inside the job: its job can still be active here.
    const queue = worker.queues.get(deliverWebhookQueue);
    const queuedAt = new Map(
      (await queue.getJobs(['completed', 'active'])).map((job) => [
        job.data.deliveryId,
        job.timestamp,
      ]),
    );
    const times = (ds: { id: string }[]) => ds.map((d) => queuedAt.get(d.id) ?? Number.NaN);
    expect(Math.max(...times(firsts))).toBeLessThanOrEqual(Math.min(...times(retries)));
    expect(new Set(hooks.requests.map((r) => r.headers['webhook-id']))).toEqual(
      new Set([...firsts, ...retries].map((d) => d.id)),
    );
    expect(hooks.requests).toHaveLength(9);
    await expect
      .poll(async () => lagOf(await worker.metrics(), 'healthy'), { timeout: 5_000 })
      .toBe(0);
  });

  it('delivers once a leaked slot’s lease ends, with no worker giving it back', async () => {
    const key = await webhookKey(database.db);
    const hooks = open.track(await startRecordingReceiver((_req, res) => res.writeHead(200).end()));
    const endpoint = { apiKeyId: key.id, endpoint: origin(hooks.url) };
    const crashed = slotsLeasedFor(1_000);
    await crashed.acquire(endpoint, ['msg_gone1', 'msg_gone2', 'msg_gone3']);
    const started = Date.now();

    const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
    expect(await jobsFor([enqueued.id])).toEqual([]);
    await settled(database.db, enqueued, ['succeeded'], { timeoutMs: 5_000 });

    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('sends a retry once when a job of the previous design (no attempt in its payload) wakes for it', async () => {
    const key = await webhookKey(database.db);
    const hooks = open.track(await startRecordingReceiver((_req, res) => res.writeHead(200).end()));
    const endpoint = { apiKeyId: key.id, endpoint: origin(hooks.url) };
    // Parked (slots taken), then made a due retry, as an upgrade finds one.
    const squatter = slotsLeasedFor(60_000);
    await squatter.acquire(endpoint, ['msg_s1', 'msg_s2', 'msg_s3']);
    const enqueued = await worker.enqueue({ apiKeyId: key.id, url: hooks.url });
    await database.db
      .updateTable('webhook_deliveries')
      .set({ run_attempts: 1, attempts: 1, next_attempt_at: new Date(Date.now() - 1_000) })
      .where('id', '=', enqueued.id)
      .execute();

    const legacy = await worker.queues.add(
      deliverWebhookQueue,
      { deliveryId: enqueued.id, run: 0 },
      { jobId: `${enqueued.id}.legacy` },
    );
    await expect.poll(() => legacy.isCompleted(), { timeout: 5_000 }).toBe(true);
    expect(hooks.requests).toHaveLength(0);

    for (const id of ['msg_s1', 'msg_s2', 'msg_s3']) await squatter.release(endpoint, id);
    expect(await settled(database.db, enqueued, ['succeeded'])).toMatchObject({ attempts: 2 });
    expect(hooks.requests).toHaveLength(1);
  });
});

/** `lowburn_webhook_queue_lag_seconds{endpoints}` in a `/metrics` text, in ms. */
function lagOf(metrics: string, endpoints: 'healthy' | 'failing'): number {
  const line = metrics
    .split('\n')
    .find((l) => l.startsWith(`lowburn_webhook_queue_lag_seconds{endpoints="${endpoints}"}`));
  return line ? Number(line.split(' ').at(-1)) * 1000 : Number.NaN;
}
