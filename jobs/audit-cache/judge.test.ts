import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../shared/inference/providers.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { freePort } from '../../test/fixtures/free-port.ts';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { judgeHit } from './judge.ts';

describe('judging one semantic hit', () => {
  let ollama: ModelTestServer;
  beforeAll(async () => {
    ollama = await startOllamaServer();
  });
  afterAll(async () => {
    await ollama?.close();
  });
  const options = (url = ollama.url) => ({
    inference: testConfig({ OLLAMA_URL: url }).inference,
    minSimilarity: 0.9,
  });
  const hit = (request: Record<string, unknown>, response = 'An answer.') => ({
    id: 'h',
    taskType: 'summary',
    request: { apiKeyId: '00000000-0000-4000-8000-000000000000', userId: 'u', ...request },
    response,
  });

  it('renders a template request again and compares the answers', async () => {
    ollama.script({ path: '/api/chat', content: 'Red Runner Shoes' });
    const request = {
      taskType: 'formatting',
      template: 'product-title',
      params: { product: 'red shoes' },
    };
    expect(await judgeHit(hit(request, 'Red runner shoes'), options())).toEqual({
      kind: 'right',
      similarity: expect.closeTo(1, 6),
    });
    const asked = ollama.callsTo('/api/chat').at(-1)?.body?.messages?.[0]?.content;
    expect(asked).toContain('product title (at most 8 words) for: red shoes.');
  });

  it('is inconclusive when the request cannot be rebuilt or the model answers unusably', async () => {
    expect(await judgeHit(hit({ prompt: 42 }), options())).toEqual({
      kind: 'inconclusive',
      reason: 'the stored request is not a generate payload',
    });
    expect(await judgeHit(hit({ taskType: 'formatting', template: 'gone' }), options())).toEqual({
      kind: 'inconclusive',
      reason: expect.stringContaining('unknown template "gone"'),
    });
    ollama.script({ path: '/api/chat', truncated: true });
    expect(await judgeHit(hit({ taskType: 'summary', prompt: 'Sum up' }), options())).toEqual({
      kind: 'inconclusive',
      reason: 'local model: the answer was cut off (token limit)',
    });
  });

  it('throws when the local model cannot be reached, so the audit is retried rather than recorded', async () => {
    const request = { taskType: 'summary', prompt: 'Sum up' };
    const error = await judgeHit(
      hit(request),
      options(`http://127.0.0.1:${await freePort()}`),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).unreachable).toBe(true);
  });
});
