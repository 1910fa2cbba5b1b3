import { describe, expect, it } from 'vitest';
import { testEnv } from '../fixtures/config.ts';
import { spawnNode } from '../fixtures/processes.ts';
import { useRedis } from '../fixtures/redis.ts';
import { randomSecretsKey } from '../fixtures/secrets.ts';

describe('booting a worker process', () => {
  const r = useRedis();

  it('exits non-zero with a message naming the bad variable', async () => {
    const worker = spawnNode('bad-config', 'workers/cli.ts', ['worker'], {
      ...testEnv({ QUEUE_PREFIX: r.prefix }),
      SHUTDOWN_GRACE: 'a while',
      REDIS_URL: '',
    });
    const exit = await worker.exited;
    expect(exit.code).toBe(78);
    expect(worker.output()).toContain('SHUTDOWN_GRACE: "a while" is not a duration like 30s');
    expect(worker.output()).toContain('REDIS_URL: is required but not set');
  });

  it('refuses to start in production when Redis can evict keys or loses them on restart', async () => {
    // The local test Redis runs without persistence, exactly what production must refuse.
    const worker = spawnNode('prod', 'workers/cli.ts', ['worker'], {
      ...testEnv({ QUEUE_PREFIX: r.prefix }),
      NODE_ENV: 'production',
      BOARD_PASSWORD: 'a-long-enough-password',
      SECRETS_KEY: randomSecretsKey(),
    });
    const exit = await worker.exited;
    expect(exit.code).toBe(78);
    expect(worker.output()).toContain('Redis is not safe for a job queue');
    expect(worker.output()).toContain('appendonly is off');
  });

  it('only warns in development, and serves /healthz and /metrics', async () => {
    const worker = spawnNode('dev', 'workers/cli.ts', ['worker'], {
      ...testEnv({ QUEUE_PREFIX: r.prefix, LOG_LEVEL: 'info', HEALTH_PORT: '0' }),
      NODE_ENV: 'development',
    });
    try {
      await worker.waitFor('"worker ready"', 20_000);
      expect(worker.output()).toContain('Redis is not safe for production');
      const port = Number(/"healthPort":(\d+)/.exec(worker.output())?.[1]);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({
        status: 'ok',
        checks: { redis: 'ok', postgres: 'ok' },
      });
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain('lowburn_queue_jobs{queue="maintain-partitions",state="waiting"}');
    } finally {
      worker.kill('SIGTERM');
      expect((await worker.exited).code).toBe(0);
    }
  });
});
