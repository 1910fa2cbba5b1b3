import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { precomputeCacheJob } from '../jobs/precompute-cache/index.ts';
import { Queues } from '../shared/queue/queues.ts';
import { testEnv } from '../test/fixtures/config.ts';
import { recordAsks } from '../test/fixtures/generations.ts';
import { type ModelTestServer, startOllamaServer } from '../test/fixtures/model-servers.ts';
import { useTestDatabase } from '../test/fixtures/postgres.ts';
import { spawnNode } from '../test/fixtures/processes.ts';
import { useRedis } from '../test/fixtures/redis.ts';

describe('lowburn precompute', () => {
  const database = useTestDatabase();
  const r = useRedis();
  let ollama: ModelTestServer;
  let dir: string;
  beforeAll(async () => {
    ollama = await startOllamaServer();
    dir = await mkdtemp(path.join(tmpdir(), 'lowburn-precompute-cli-'));
    const apiKeyId = randomUUID();
    const at = new Date(Date.now() - 3_600_000);
    await recordAsks(database.db, 5, { apiKeyId, users: 3, at, prompt: 'Summarise: the weather' });
    await recordAsks(database.db, 2, {
      apiKeyId,
      users: 2,
      at,
      prompt: 'Explain: the tides',
      route: 'frontier',
      costUsd: 0.001,
    });
  });
  afterAll(async () => {
    await ollama?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (args: string[], env: Record<string, string> = {}) => {
    const cli = spawnNode(
      'lowburn precompute',
      'workers/cli.ts',
      ['precompute', ...args],
      testEnv({
        DATABASE_URL: database.url,
        QUEUE_PREFIX: r.prefix,
        OLLAMA_URL: ollama.url,
        STORAGE_URL: `file:${path.join(dir, 'objects')}`,
        COLD_CACHE_DIR: path.join(dir, 'cache'),
        ...env,
      }),
    );
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  };

  it('prints the ranked candidates and the estimated cost with --dry-run', async () => {
    const { code, output } = await run(['--dry-run']);
    expect(code).toBe(0);
    const lines = output.trim().split('\n');
    expect(lines[0]).toMatch(/^#\s+task\s+scope\s+prompt\s+asks\s+users\s+route\s+miss\s+state$/);
    expect(lines[1]).toMatch(
      /^1\s+summary\s+\S+\s+Explain: the tides\s+2\s+2\s+local\s+\$0\.001\s+due$/,
    );
    expect(lines[2]).toMatch(
      /^2\s+summary\s+\S+\s+Summarise: the weather\s+5\s+3\s+local\s+\$0\.00\s+due$/,
    );
    expect(output).toContain('2 candidates from 7 asks (0 from cold storage)');
    expect(output).toContain('0 still fresh; 2 to answer');
    expect(output).toContain('The paid model is not used (PRECOMPUTE_ALLOW_FRONTIER=false).');
    // Nothing was generated.
    expect(ollama.callsTo('/api/chat')).toHaveLength(0);

    const json = await run(['--dry-run', '--format', 'json']);
    expect(JSON.parse(json.output)).toMatchObject({
      candidates: [
        { rank: 1, prompt: 'Explain: the tides', asks: 2, users: 2 },
        { rank: 2, prompt: 'Summarise: the weather', asks: 5, users: 3 },
      ],
      due: 2,
      estimatedCostUsd: { local: 0, frontierAtMost: 0 },
    });
  });

  it('enqueues a run now without --dry-run and prints its id', async () => {
    const { code, output } = await run([]);
    expect(code).toBe(0);
    const queues = new Queues({ connection: r.redis, prefix: r.prefix });
    try {
      const job = await queues.get(precomputeCacheJob).getJob(output.trim());
      expect(job?.name).toBe('precompute-cache');
    } finally {
      await queues.close();
    }
  });
});
