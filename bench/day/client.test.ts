import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { entryPings, telemetryStream } from '../../shared/telemetry/buffer.ts';
import { useTestApi } from '../../test/fixtures/api-server.ts';
import { spawnNode } from '../../test/fixtures/processes.ts';
import { DAY_MS } from './arrivals.ts';
import type { ClientResult } from './client-run.ts';
import { pingOf, pingPhases, pingsBetween } from './pings.ts';
import { dayWorkload } from './workload.ts';

const USERS = 4;
const SEED = 21;
// A day in 3 s.
const COMPRESSION = 28_800;
const t = useTestApi({ RATE_LIMIT_PER_USER: '100000', RATE_LIMIT_USER_TIERS: '' });

describe('the day client, as its own process against the real API', () => {
  it('sends every request and ping batch when due and records what the API accepted', async () => {
    const { key } = await t.api.key(['generate', 'telemetry']);
    const out = path.join(tmpdir(), `lowburn-day-client-${process.pid}-${Date.now()}.json`);
    // The run's real start, as the bench gives it (the day's 00:00 on the fleet's clock).
    const startAt = Date.now() + 3_000;
    const client = spawnNode('day client', 'bench/day/client.ts', [], {
      DAY_CLIENT: JSON.stringify({
        api: t.api.url,
        apiKey: key,
        users: USERS,
        seed: SEED,
        days: 1,
        compression: COMPRESSION,
        webhookUrl: 'http://127.0.0.1:9/hooks',
        out,
        startAt,
      }),
    });
    await client.waitFor('done', 30_000);
    const result = JSON.parse(await readFile(out, 'utf8')) as ClientResult;
    await rm(out);
    expect(result.originEpochMs).toBe(startAt);
    expect(client.output()).toContain(`start ${startAt}`);

    const requests = dayWorkload({ users: USERS, seed: SEED }).filter((r) => r.at >= 0);
    expect(result.generations.lag).toMatchObject({ started: requests.length, late: 0 });
    expect(result.generations.statuses).toEqual({ 202: requests.length });
    expect(result.generations.dropped + result.pings.dropped).toBe(0);
    expect(result.generations.accepted.map(([i]) => i)).toEqual(requests.map((_, i) => i));
    const queue = t.queue('generate');
    for (const [i, id] of result.generations.accepted) {
      const job = await queue.getJob(id);
      const request = requests[i];
      expect(job?.data).toMatchObject({
        userId: request?.body.userId,
        metadata: { dayRequest: i },
      });
      expect(job?.data.webhookUrl !== undefined).toBe(request?.webhook);
    }

    // Every ping of the day exactly once in the buffer, and every one in an accepted batch.
    const due = pingsBetween(
      { users: USERS, seed: SEED },
      pingPhases({ users: USERS, seed: SEED }),
      0,
      DAY_MS,
    );
    expect(result.pings.accepted).toBe(due.length);
    expect(result.pings.lag.late).toBe(0);
    const stored = (await t.redis.xrange(telemetryStream(t.api.prefix), '-', '+')).flatMap(
      ([, fields]) => entryPings(fields).map((p) => pingOf(SEED, p.pingId)),
    );
    expect(stored).toHaveLength(due.length);
    expect(new Set(stored.map((p) => `${p?.device}:${p?.k}`)).size).toBe(due.length);
    expect(stored.every((p) => p !== undefined && p.k >= 0 && p.k < 8_640)).toBe(true);
    expect(result.wallS).toBeGreaterThan(86_400 / COMPRESSION - 0.1);
  });
});
