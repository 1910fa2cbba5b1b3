import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../shared/db/migrations/index.ts';
import { testEnv } from '../test/fixtures/config.ts';
import { createTestDatabase } from '../test/fixtures/postgres.ts';
import { spawnNode } from '../test/fixtures/processes.ts';
import { useRedis } from '../test/fixtures/redis.ts';

async function lowburn(args: string[], env: Record<string, string>) {
  const cli = spawnNode(`lowburn ${args[0]}`, 'workers/cli.ts', args, env);
  const { code } = await cli.exited;
  return { code, output: cli.output() };
}

describe('the lowburn CLI', () => {
  const r = useRedis();
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase({ empty: true });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('migrates a fresh database up, reports status, and reverts', async () => {
    const env = testEnv({ DATABASE_URL: database.url, QUEUE_PREFIX: r.prefix });
    expect(await lowburn(['migrate', 'status'], env)).toMatchObject({
      code: 0,
      output: expect.stringMatching(/pending\s+0001-initial/),
    });
    // Every migration, in order (shared/db/migrations.test.ts checks the list itself).
    const all = Object.keys(migrations());
    expect(await lowburn(['migrate', 'up'], env)).toEqual({
      code: 0,
      output: `applied: ${all.join(', ')}\n`,
    });
    expect(await lowburn(['migrate'], env)).toEqual({ code: 0, output: 'nothing to do\n' });
    expect(await lowburn(['migrate', 'down'], env)).toEqual({
      code: 0,
      output: `reverted: ${all.at(-1)}\n`,
    });
    expect((await lowburn(['migrate', 'sideways'], env)).output).toContain(
      '"sideways" is not one of up, down, status',
    );
  });

  it('enqueues a job now and prints its id', async () => {
    const env = testEnv({ QUEUE_PREFIX: r.prefix });
    const { code, output } = await lowburn(
      ['run', 'maintain-partitions', '--payload', '{"days":2}'],
      env,
    );
    expect(code).toBe(0);
    const queue = new Queue('maintain-partitions', { connection: r.redis, prefix: r.prefix });
    const job = await queue.getJob(output.trim());
    await queue.close();
    expect(job?.data).toEqual({ days: 2 });
  });

  it('runs the cache audit of a given day by hand (it has no schedule of its own)', async () => {
    const env = testEnv({ QUEUE_PREFIX: r.prefix });
    const { code, output } = await lowburn(
      ['run', 'audit-cache', '--payload', '{"day":"2026-11-20"}'],
      env,
    );
    expect(code).toBe(0);
    const queue = new Queue('audit-cache', { connection: r.redis, prefix: r.prefix });
    const job = await queue.getJob(output.trim());
    await queue.close();
    expect(job?.data).toEqual({ day: '2026-11-20' });
    const bad = await lowburn(['run', 'audit-cache', '--payload', '{"day":"yesterday"}'], env);
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('invalid payload for audit-cache: day:');
  });

  it('says which jobs exist when asked to run an unknown one', async () => {
    const { code, output } = await lowburn(['run', 'nope'], testEnv({ QUEUE_PREFIX: r.prefix }));
    expect(code).toBe(2);
    expect(output).toContain('unknown job "nope"; known: maintain-partitions');
  });

  it('names the bad field of a payload and enqueues nothing', async () => {
    const env = testEnv({ QUEUE_PREFIX: r.prefix });
    const bad = await lowburn(['run', 'maintain-partitions', '--payload', '{"days":"two"}'], env);
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('invalid payload for maintain-partitions: days:');
    const notJson = await lowburn(['run', 'maintain-partitions', '--payload', '{days'], env);
    expect(notJson.code).toBe(2);
    expect(notJson.output).toContain('--payload is not valid JSON');
    expect(await r.redis.keys(`${r.prefix}:*`)).toEqual([]);
  });
});
