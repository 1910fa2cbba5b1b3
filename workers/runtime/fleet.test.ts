import { Queue, QueueEvents } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidPayloadError } from '../../shared/errors/invalid-payload-error.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { defineCatalog } from '../../shared/queue/job-definition.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { echo, hang, slow, testJobs } from '../../test/fixtures/test-jobs.ts';
import { type RunningWorker, startWorker } from '../worker.ts';

const log = createLogger({ level: 'silent' });

describe('the worker runtime', () => {
  const r = useRedis();
  const open: { close(): Promise<unknown> }[] = [];
  let worker: RunningWorker | undefined;

  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    for (const thing of open.splice(0)) await thing.close();
  });

  async function start(queues: string) {
    const config = testConfig({ QUEUE_PREFIX: r.prefix, WORKER_QUEUES: queues });
    worker = await startWorker({ config, catalog: { echo, hang, slow }, log });
    const queue = (name: string) => {
      const q = new Queue(name, { connection: r.redis, prefix: r.prefix });
      const connection = r.redis.duplicate();
      const events = new QueueEvents(name, { connection, prefix: r.prefix });
      // BullMQ leaves a connection it was handed open; close it after the events.
      open.push(q, events, { close: () => connection.quit() });
      return { q, events };
    };
    return { config, queue };
  }

  it('fails a job with a bad payload at once, naming the field, without retrying', async () => {
    const { queue } = await start('echo');
    const { q, events } = queue('echo');
    await events.waitUntilReady();
    // Bypasses the producer's parse, as out-of-date code or a hand-edited job would.
    const job = await q.add('echo', { name: 'x', count: 'three' }, { attempts: 3 });
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow(
      'invalid payload for echo: count: Invalid input: expected number, received string',
    );
    const failed = await q.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(await failed?.getState()).toBe('failed');
  });

  it('refuses a bad payload before it reaches Redis', async () => {
    const queues = new Queues({ connection: r.redis, prefix: r.prefix });
    open.push(queues);
    await expect(queues.add(echo, { name: 'x', count: -1 } as never)).rejects.toBeInstanceOf(
      InvalidPayloadError,
    );
    await expect(queues.add(echo, { name: 'x', count: 1, extra: true } as never)).rejects.toThrow(
      /Unrecognized key: "extra"/,
    );
    expect(await queues.get(echo).count()).toBe(0);
  });

  it('gives every job retries with jittered backoff and bounded retention', async () => {
    const queues = new Queues({ connection: r.redis, prefix: r.prefix });
    open.push(queues);
    const job = await queues.add(echo, { name: 'a', count: 1 });
    expect(job.opts).toMatchObject({
      attempts: 3,
      backoff: { type: 'exponential', delay: 100, jitter: 0.5 },
      removeOnComplete: { age: 86_400, count: 1_000 },
      removeOnFail: { age: 604_800, count: 5_000 },
    });
  });

  it('ends a processor that never settles at its timeout, so the job does not stay active', async () => {
    const { queue } = await start('hang');
    const { q, events } = queue('hang');
    await events.waitUntilReady();
    const job = await q.add('hang', {});
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow(
      'hang job did not finish within 300 ms',
    );
    expect(await q.getActiveCount()).toBe(0);
  });

  it('runs a valid job and returns its result', async () => {
    const { queue } = await start('echo,slow');
    const { q, events } = queue('echo');
    await events.waitUntilReady();
    const job = await q.add('echo', { name: 'ok', count: 2 });
    expect(await job.waitUntilFinished(events, 10_000)).toEqual({ name: 'ok', count: 2 });
    expect(worker?.queues).toEqual(['echo', 'slow']);
  });

  it('refuses to start with a queue name that is not in the catalog', async () => {
    const config = testConfig({ QUEUE_PREFIX: r.prefix, WORKER_QUEUES: 'echo,nope' });
    await expect(startWorker({ config, catalog: testJobs, log })).rejects.toThrow(
      /WORKER_QUEUES: names unknown queue\(s\) nope; known: tick, slow, echo, hang/,
    );
  });
});

describe('the job catalog type', () => {
  it('rejects a key that is not the job’s queue, and a job without a processor', () => {
    // @ts-expect-error the key must equal the definition's queue name
    defineCatalog({ 'not-echo': echo });
    const { process: _, ...withoutProcessor } = echo;
    // @ts-expect-error a job without a processor does not compile
    defineCatalog({ echo: withoutProcessor });
    expect(true).toBe(true);
  });
});
