import { describe, expect, it } from 'vitest';
import { AnswerCache } from '../shared/inference/answer-cache.ts';
import { createNamespaceRegistry } from '../shared/inference/namespace-registry.ts';
import { exactKey } from '../shared/inference/request-keys.ts';
import { createSemanticIndex } from '../shared/inference/semantic-index.ts';
import { testEnv } from '../test/fixtures/config.ts';
import { fakeEmbedding } from '../test/fixtures/fake-embedding.ts';
import { spawnNode } from '../test/fixtures/processes.ts';
import { useRedis } from '../test/fixtures/redis.ts';
import { parseSelector } from './cache-command.ts';

const PROMPT = 'Summarise: the cat sat on the mat.';
const answer = {
  answer: 'A cat sat.',
  model: 'llama3.2:3b',
  route: 'local' as const,
  createdAt: '',
};

describe('lowburn cache purge', () => {
  const r = useRedis();

  async function cache(...args: string[]) {
    const cli = spawnNode('lowburn cache purge', 'workers/cli.ts', ['cache', 'purge', ...args], {
      ...testEnv({ QUEUE_PREFIX: r.prefix }),
    });
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  }

  /** One answer cached as a worker would: exact and semantic layers, and the index entry. */
  async function seed(taskType = 'summary') {
    const namespace = await createNamespaceRegistry({ redis: r.redis, prefix: r.prefix }).register({
      taskType,
      localModel: 'llama3.2:3b',
      localModelVersion: '1',
      embedModel: 'nomic-embed-text',
      scope: 'acme',
    });
    const key = exactKey([{ role: 'user', content: PROMPT }]);
    const answers = new AnswerCache(r.redis, r.prefix);
    await answers.set('exact', namespace, key, answer, 60_000);
    await answers.set('semantic', namespace, key, answer, 60_000);
    const index = createSemanticIndex({ redis: r.redis, prefix: r.prefix, dimensions: 8 });
    await index.add(namespace, { id: key, vector: fakeEmbedding(PROMPT, 8) });
    await index.close();
    return namespace;
  }
  const cached = async () => (await r.redis.keys(`${r.prefix}:cache:*`)).length;

  it('removes by task type and prints the counts per layer and where they were', async () => {
    const namespace = await seed();
    await seed('qa');

    const { code, output } = await cache('--task-type', 'summary');

    expect(code).toBe(0);
    expect(output).toContain(
      'Removed 2 cached answers and 1 semantic index entry from 1 namespace.',
    );
    expect(output).toMatch(/^exact {11}1$/m);
    expect(output).toMatch(/^semantic {8}1$/m);
    expect(output).toMatch(/^semantic index {2}1$/m);
    expect(output).toMatch(new RegExp(`^${namespace} +summary +- +acme +- +2 +1$`, 'm'));
    expect(await cached()).toBe(2);
    expect(await r.redis.zcard(`${r.prefix}:semantic:expiry`)).toBe(1);
  });

  it('prints what it would remove with --dry-run, and removes nothing', async () => {
    await seed();

    const { code, output } = await cache('--prompt', `  ${PROMPT}  `, '--dry-run');

    expect(code).toBe(0);
    expect(output).toContain(
      'Would remove 2 cached answers and 1 semantic index entry from 1 namespace (dry run: nothing was removed).',
    );
    expect(await cached()).toBe(2);
  });

  it('prints one JSON object with --json, for scripts', async () => {
    const namespace = await seed();

    const { code, output } = await cache('--namespace', namespace, '--scope', 'acme', '--json');

    expect(code).toBe(0);
    expect(JSON.parse(output)).toEqual({
      dryRun: false,
      removed: { precomputed: 0, exact: 1, template: 0, semantic: 1 },
      vectors: 1,
      namespaces: [
        {
          namespace,
          parts: expect.objectContaining({ taskType: 'summary', scope: 'acme' }),
          answers: 2,
          vectors: 1,
        },
      ],
    });
  });

  it('says what to pass when nothing names what to purge (exit code 2)', async () => {
    const message =
      'say what to purge: one or more of --task-type, --template, --prompt, --key, --namespace (--scope only narrows them)';
    const { code, output } = await cache('--dry-run');
    expect(code).toBe(2);
    expect(output).toContain(`lowburn: ${message}`);
    expect(() => parseSelector({ scope: 'acme' })).toThrow(message);
    const bad = await cache('--namespace', 'abc');
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('lowburn: --namespace: must be a namespace id: 24 hex digits');
  });

  it('reads a prompt that is a JSON chat as that chat too', () => {
    const chat = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: PROMPT },
    ];
    expect(parseSelector({ prompt: JSON.stringify(chat) })).toEqual({
      prompt: JSON.stringify(chat),
      messages: chat,
    });
    expect(parseSelector({ prompt: '[not a chat]' })).toEqual({ prompt: '[not a chat]' });
  });
});
