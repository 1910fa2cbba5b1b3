// npm run bench:day — a simulated day at DAY_USERS users (issue #17): the real fleet (`lowburn
// api`, two `lowburn worker`s, a private Redis, Postgres, storage on disk, the model test
// servers, a webhook receiver that verifies signatures) under the seeded day from a client
// process on the compressed clock, after the previous day was bulk-loaded; then the verification,
// the measurements and the cost from `rollup-usage`'s `cost_daily`. Quick mode:
// DAY_USERS=1000 DAY_COMPRESSION=288 (~5 minutes of load). See the README's "Simulated day".

import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { deliverWebhookJob } from '../../jobs/deliver-webhook/index.ts';
import { rollupUsageJob } from '../../jobs/rollup-usage/index.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { bufferStats } from '../../shared/telemetry/buffer.ts';
import { spawnNode } from '../../test/fixtures/processes.ts';
import { databaseOf, drained } from '../support.ts';
import type { ClientResult } from './client-run.ts';
import { DAY_PREFIX, startFleet } from './fleet.ts';
import { startCpuTracker, startSampler } from './measure.ts';
import { oracleHitRate } from './oracle.ts';
import { loadPreviousDay } from './previous-day.ts';
import { type DayClock, scheduledRuns } from './scheduled.ts';
import { daySettings } from './settings.ts';
import { summarise } from './summary.ts';
import { checkExports, checkGenerations, checkPings, checkWebhooks } from './verify.ts';
import { dayWorkload } from './workload.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);
const s = daySettings(process.env);
const DAY_MS = 86_400_000;
say(
  `bench:day — ${s.users.toLocaleString('en')} users, ${s.days} day(s), compression ${s.compression} (${Math.round((s.days * DAY_MS) / s.compression / 1000)} s of load), seed ${s.seed}, local ${s.localTokensPerS} tokens/s per call, ${s.localFailure * 100} % of local answers fail or are invalid`,
);

const fleet = await startFleet(s);
const connection = new Redis(fleet.redis.url, { maxRetriesPerRequest: null });
const queues = new Queues({ connection, prefix: DAY_PREFIX });
const out = path.join(tmpdir(), `lowburn-day-client-${process.pid}.json`);
let client: ReturnType<typeof spawnNode> | undefined;
try {
  let t = performance.now();
  const requests = dayWorkload({ users: s.users, seed: s.seed, days: s.days });
  const workloadMs = performance.now() - t;
  const ttls = { exactMs: DAY_MS, semanticMs: 3_600_000 };
  const oracle = oracleHitRate(requests, ttls, { from: 0 });
  const oracleWarm = oracleHitRate(requests, ttls, { from: 0, warm: true });
  t = performance.now();
  const dayStartMs = Date.parse(`${utcDay(new Date())}T00:00:00Z`);
  const previous = await loadPreviousDay(fleet.db, {
    requests,
    users: s.users,
    apiKeyId: fleet.apiKey.id,
    runStart: dayStartMs,
  });
  say(
    `previous day bulk-loaded: ${previous.generations.toLocaleString('en')} generations, ${previous.pings.toLocaleString('en')} pings in ${Math.round((performance.now() - t) / 1000)} s`,
  );

  // The run's real start (the day's 00:00 on the processes' clock), far enough ahead for the
  // client to build its workload (as long as the bench took, twice over) and the fleet to boot.
  const clock: DayClock = {
    startedAtMs: Math.round(Date.now() + 20_000 + 2 * workloadMs),
    dayStartMs,
    compression: s.compression,
  };
  client = spawnNode('day client', 'bench/day/client.ts', [], {
    DAY_CLIENT: JSON.stringify({
      api: fleet.apiUrl,
      apiKey: fleet.apiKey.key,
      users: s.users,
      seed: s.seed,
      days: s.days,
      compression: s.compression,
      webhookUrl: fleet.webhookUrl,
      out,
      startAt: clock.startedAtMs,
    }),
  });
  await fleet.startProcesses(clock);
  if (Date.now() > clock.startedAtMs) {
    throw new Error(`the fleet booted ${Date.now() - clock.startedAtMs} ms after the run's start`);
  }
  await client.waitFor('start ', clock.startedAtMs - Date.now() + 120_000);
  const originEpochMs = Number(/start (\d+)/.exec(client.output())?.[1]);
  // The client's CPU comes from the client itself: it has exited by the second snapshot.
  const pids = { ...fleet.pids, receiver: fleet.receiver.pid };
  const scope = { database: databaseOf(fleet.databaseUrl), redisPort: fleet.redis.port };
  const cpu = startCpuTracker({ ...pids, bench: process.pid }, scope);
  t = performance.now();
  const sampler = startSampler(pids, {
    generate: queues.get(generateQueue),
    'deliver-webhook': queues.get(deliverWebhookJob),
  });
  const loadS = (s.days * DAY_MS) / s.compression / 1000;
  say(`the day is running (${Math.round(loadS)} s)…`);
  await client.waitFor('done', (loadS + 600) * 1000);
  const loadWallS = (performance.now() - t) / 1000;
  const result = JSON.parse(await readFile(out, 'utf8')) as ClientResult;
  say(
    `load done in ${Math.round(loadWallS)} s; draining the queues, the telemetry buffer, the webhooks…`,
  );
  const drainedS = await drain();
  const cpuS = cpu.stop();
  const measured = sampler.stop();
  const wallS = (performance.now() - t) / 1000;

  const ids = result.generations.accepted.map(([, id]) => id);
  const run = requests.filter((r) => r.at >= 0);
  const webhookIds = result.generations.accepted
    .filter(([i]) => run[i]?.webhook)
    .map(([, id]) => id);
  const checks = {
    generations: await checkGenerations(fleet.db, ids),
    webhooks: await checkWebhooks(fleet.db, webhookIds, await fleet.receiver.received()),
    pings: await checkPings(fleet.db, s.seed, result.pings.accepted),
    exports: await checkExports(fleet.db),
  };
  const rollup = await queues.add(rollupUsageJob, { day: utcDay(new Date(originEpochMs)) });
  await finished(queues.get(rollupUsageJob), rollup.id ?? '');
  await summarise({
    settings: s,
    fleet,
    redis: connection,
    client: result,
    checks,
    oracle,
    oracleWarm,
    cpu: { ...cpuS, client: result.cpuS },
    measured,
    wallS,
    loadWallS,
    drainedS,
    originEpochMs,
    ids,
    scheduled: await scheduledRuns(queues, clock, s.days),
  });
} finally {
  client?.kill();
  await queues.close();
  connection.disconnect();
  await fleet.stop();
  await rm(out, { force: true });
}

/** Waits for the day's work to settle (at most 10 minutes); returns how long it took, in s. */
async function drain(): Promise<number> {
  const started = performance.now();
  const deadline = Date.now() + 600_000;
  await drained(queues.get(generateQueue));
  for (;;) {
    const buffered = await bufferStats(connection, DAY_PREFIX);
    const pending = await fleet.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('status', 'in', ['pending', 'failed'])
      .executeTakeFirst();
    if ((buffered.depth === 0 && Number(pending?.n ?? 0) === 0) || Date.now() > deadline) break;
    await sleep(500);
  }
  return (performance.now() - started) / 1000;
}

async function finished(queue: ReturnType<Queues['get']>, id: string): Promise<void> {
  for (;;) {
    const job = await queue.getJob(id);
    if (job?.finishedOn) {
      if (job.failedReason) throw new Error(`${queue.name} failed: ${job.failedReason}`);
      return;
    }
    await sleep(200);
  }
}
