import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { testEnv } from '../test/fixtures/config.ts';
import { recordAsk } from '../test/fixtures/generations.ts';
import { useTestDatabase } from '../test/fixtures/postgres.ts';
import { spawnNode } from '../test/fixtures/processes.ts';
import { useRedis } from '../test/fixtures/redis.ts';
import { parseSubjects } from './users-command.ts';

describe('lowburn users erase', () => {
  const database = useTestDatabase();
  const r = useRedis();

  async function users(...args: string[]) {
    const cli = spawnNode('lowburn users erase', 'workers/cli.ts', ['users', 'erase', ...args], {
      ...testEnv({ QUEUE_PREFIX: r.prefix, DATABASE_URL: database.url }),
    });
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  }

  it('counts on a dry run and records and removes nothing', async () => {
    const apiKeyId = randomUUID();
    for (const prompt of ['one', 'two']) {
      await recordAsk(database.db, { at: new Date(), userId: 'dry-user', apiKeyId, prompt });
    }
    const { code, output } = await users('dry-user', '--dry-run', '--json');
    expect(code).toBe(0);
    const [preview] = JSON.parse(output.trim().split('\n').at(-1) ?? '[]');
    expect(preview).toMatchObject({ userId: 'dry-user', rows: { generations: 2 } });
    expect(await database.db.selectFrom('erasures').select('id').execute()).toEqual([]);
    const rows = await database.db
      .selectFrom('generations')
      .select('id')
      .where('user_id', '=', 'dry-user')
      .execute();
    expect(rows).toHaveLength(2);
  });

  it('records an erasure, the same one when asked twice, and queues its job', async () => {
    const first = await users('wet-user', '--json');
    expect(first.code).toBe(0);
    const [a] = JSON.parse(first.output.trim().split('\n').at(-1) ?? '[]');
    const second = await users('wet-user', '--json');
    const [b] = JSON.parse(second.output.trim().split('\n').at(-1) ?? '[]');
    expect(a).toMatchObject({ userId: 'wet-user', status: 'pending', created: true });
    expect(b).toMatchObject({ id: a.id, created: false, jobId: a.jobId });
    expect(await r.redis.exists(`${r.prefix}:erase-user:${a.jobId}`)).toBe(1);
  });

  it('--apply-now asks for the cold side once the hot side is done, and alone queues it now', async () => {
    const { code, output } = await users('soon-user', '--apply-now', '--json');
    expect(code).toBe(0);
    const [recorded] = JSON.parse(output.trim().split('\n').at(-1) ?? '[]');
    expect(recorded.jobId).toMatch(/-now$/);
    const data = await r.redis.hget(`${r.prefix}:erase-user:${recorded.jobId}`, 'data');
    expect(JSON.parse(data ?? '{}')).toEqual({ erasureId: recorded.id, applyNow: true });

    const alone = await users('--apply-now', '--json');
    expect(alone.code).toBe(0);
    const { jobId } = JSON.parse(alone.output.trim().split('\n').at(-1) ?? '{}');
    expect(jobId).toMatch(/^apply-erasures\.cli\./);
    expect(await r.redis.exists(`${r.prefix}:apply-erasures:${jobId}`)).toBe(1);
  });

  it('verifies an erasure by id and says what remains', async () => {
    const [recorded] = JSON.parse(
      (await users('left-user', '--json')).output.trim().split('\n').at(-1) ?? '[]',
    );
    await recordAsk(database.db, {
      at: new Date(),
      userId: 'left-user',
      apiKeyId: randomUUID(),
      prompt: 'still here',
    });
    const { code, output } = await users('--verify', recorded.id);
    expect(code).toBe(1);
    expect(output).toMatch(/1 left in generations \d{4}-\d{2}-\d{2}/);
    expect(output).toContain('NOT clean');
  });

  it('refuses bad arguments before connecting', () => {
    expect(() => parseSubjects([], undefined)).toThrow(InvalidArgumentError);
    expect(() => parseSubjects(['a', 'b'], 'tablet')).toThrow('one user at a time');
    expect(() => parseSubjects(['a'], 'x,,y')).toThrow('--devices');
    expect(parseSubjects(['a', 'a'], 'tablet-1, kiosk')).toEqual({
      userIds: ['a'],
      deviceIds: ['tablet-1', 'kiosk'],
    });
  });
});
