import { describe, expect, it } from 'vitest';
import { testEnv } from '../fixtures/config.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import { spawnNode } from '../fixtures/processes.ts';
import { useRedis } from '../fixtures/redis.ts';
import { randomSecretsKey } from '../fixtures/secrets.ts';

/**
 * In production each process demands only the settings it uses: the board's password is the
 * board's, so migrations, keys and the API run without it.
 */
describe('a production environment without BOARD_PASSWORD', () => {
  const database = useTestDatabase();
  const r = useRedis();
  const env = () => ({
    ...testEnv({ DATABASE_URL: database.url, QUEUE_PREFIX: r.prefix, API_PORT: '0' }),
    NODE_ENV: 'production',
  });

  async function run(...args: string[]) {
    return runWith({}, ...args);
  }

  async function runWith(extra: Record<string, string>, ...args: string[]) {
    const cli = spawnNode(`lowburn ${args.join(' ')}`, 'workers/cli.ts', args, {
      ...env(),
      ...extra,
    });
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  }

  it('runs `lowburn migrate`', async () => {
    const { code, output } = await run('migrate', 'up');
    expect(output).not.toContain('BOARD_PASSWORD');
    expect(code).toBe(0);
  });

  it('runs `lowburn keys create` (which needs SECRETS_KEY, its own setting)', async () => {
    const { code, output } = await runWith(
      { SECRETS_KEY: randomSecretsKey() },
      ...['keys', 'create', '--name', 'prod', '--scopes', 'generate'],
    );
    expect(output).not.toContain('BOARD_PASSWORD');
    expect(code).toBe(0);
  });

  it('serves `lowburn api`', async () => {
    const api = spawnNode('lowburn api', 'workers/cli.ts', ['api'], {
      ...env(),
      LOG_LEVEL: 'info',
    });
    try {
      await api.waitFor('"api ready"', 20_000);
      expect(api.output()).not.toContain('BOARD_PASSWORD');
    } finally {
      api.kill('SIGTERM');
      await api.exited;
    }
  });

  it('refuses to start `lowburn board`, saying the board needs it', async () => {
    const { code, output } = await run('board');
    expect(code).toBe(78);
    expect(output).toContain(
      'BOARD_PASSWORD: is required by `lowburn board` when NODE_ENV=production',
    );
  });
});
