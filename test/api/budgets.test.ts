import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newJobId } from '../../api/job-ids.ts';
import type { JobStatus } from '../../api/schemas.ts';
import { generateJob } from '../../jobs/generate/index.ts';
import { setApiKeyBudgets } from '../../shared/api-keys/api-keys.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import { addSpend, budgetDay, readBudgetCrossings, readSpend } from '../../shared/usage/budgets.ts';
import { useTestApi } from '../fixtures/api-server.ts';
import { useWorkerBehindApi } from '../fixtures/api-worker.ts';
import {
  type ModelTestServer,
  startOllamaServer,
  startOpenAIServer,
} from '../fixtures/model-servers.ts';
import { waitUntil } from '../fixtures/wait-until.ts';

// $100 per million tokens, and every frontier answer 3,000 + 3,000 tokens: $0.60 a call.
const PRICES = '{"gpt-4o-mini":{"input":100,"output":100}}';
const BUDGETS = { USER_DAILY_BUDGET_USD: '1', USER_DAILY_BUDGET_USD_HARD: '3' };
const FRONTIER_CHAT = '/v1/chat/completions';

interface ErrorBody {
  error: { code: string; message: string };
}

describe('per-user daily budgets', () => {
  const t = useTestApi({ ...BUDGETS, MODEL_PRICES: PRICES });
  let ollama: ModelTestServer;
  let openai: ModelTestServer;
  beforeAll(async () => {
    [ollama, openai] = await Promise.all([startOllamaServer(), startOpenAIServer()]);
    openai.handle(() => ({ promptTokens: 3_000, completionTokens: 3_000 }));
    // The local model fails every prompt that asks it to.
    ollama.handle((call) =>
      JSON.stringify(call.body?.messages ?? '').includes('LOCAL FAILS')
        ? { status: 500, error: 'model crashed' }
        : undefined,
    );
  });
  afterAll(async () => {
    await Promise.all([ollama?.close(), openai?.close()]);
  });
  useWorkerBehindApi(t, { generate: generateJob }, () => ({
    ...BUDGETS,
    MODEL_PRICES: PRICES,
    OLLAMA_URL: ollama.url,
    FRONTIER_URL: openai.baseUrl,
    FRONTIER_API_KEY: openai.apiKey,
  }));

  const today = () => budgetDay(new Date(), 'UTC');
  const spend = (keyId: string, userId: string, usd: number) =>
    addSpend(t.redis, t.api.prefix, 'UTC', { apiKeyId: keyId, userId, usd, at: new Date() });
  const frontierCalls = () => openai.callsTo(FRONTIER_CHAT).length;

  async function generate(key: string, body: Record<string, unknown>): Promise<string> {
    const res = await t.api.request('/v1/generations', { key, json: body });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }
  async function settled(key: string, id: string): Promise<JobStatus> {
    let status: JobStatus | undefined;
    await waitUntil(
      async () => {
        status = (await (await t.api.request(`/v1/jobs/${id}`, { key })).json()) as JobStatus;
        return status.status === 'completed' || status.status === 'failed';
      },
      30_000,
      `job ${id} to finish`,
    );
    return status as JobStatus;
  }
  const row = (id: string) =>
    t.database.db
      .selectFrom('generations')
      .select(['status', 'route', 'cost_usd', 'fallback_reason', 'error'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  it('adds recorded frontier cost to the spend, records the soft crossing once, then keeps the user local', async () => {
    const { id: keyId, key } = await t.api.key(['generate', 'read']);
    const ask = (prompt: string) =>
      generate(key, { userId: 'ada', taskType: 'generation', prompt });

    // Routed to the frontier ('generation' tasks are), twice: $0.60, then $1.20 ≥ the $1 budget.
    for (const [n, total] of [
      [1, 0.6],
      [2, 1.2],
    ] as const) {
      const id = await ask(`Write a product description, take ${n}.`);
      expect(await settled(key, id)).toMatchObject({ status: 'completed' });
      expect(await row(id)).toMatchObject({ route: 'frontier', cost_usd: '0.60000000' });
      expect(await readSpend(t.redis, t.api.prefix, today(), keyId, 'ada')).toBeCloseTo(total, 9);
    }
    expect(await readBudgetCrossings(t.redis, t.api.prefix, today())).toEqual([
      {
        apiKeyId: keyId,
        userId: 'ada',
        level: 'soft',
        spentUsd: 1.2,
        budgetUsd: 1,
        at: expect.any(Date),
      },
    ]);

    // Past the soft budget: accepted, marked local-only, answered by the local model.
    const calls = frontierCalls();
    const local = await ask('Write a product description, take 3.');
    const job = await t.queue('generate').getJob(local);
    expect(job?.data.budget).toEqual({ softUsd: 1, hardUsd: 3, localOnly: true });
    expect(await settled(key, local)).toMatchObject({ status: 'completed' });
    expect(await row(local)).toMatchObject({ route: 'local', cost_usd: '0.00000000' });

    // The local model fails: no fallback to the frontier; the job fails, saying why.
    const failing = await generate(key, {
      userId: 'ada',
      taskType: 'summary',
      prompt: 'Summarise: LOCAL FAILS on this one.',
    });
    const failed = await settled(key, failing);
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('model crashed');
    expect(failed.error).toContain('past their daily budget');
    expect(await row(failing)).toMatchObject({ status: 'failed', fallback_reason: 'budget' });
    expect(frontierCalls()).toBe(calls);
    // Still one crossing: the local answers cost nothing.
    expect(await readBudgetCrossings(t.redis, t.api.prefix, today())).toHaveLength(1);
  });

  it('re-checks the spend in the worker: a user who crossed after enqueue gets no frontier call', async () => {
    const { id: keyId, key } = await t.api.key(['generate', 'read']);
    // Queued under the budget (as the API marks it), crossed before it runs. Added with the
    // API's job id, so its status can be read through the API.
    await spend(keyId, 'grace', 1.5);
    const job = await t.queue('generate').add(
      generateQueue.queue,
      {
        apiKeyId: keyId,
        userId: 'grace',
        taskType: 'generation',
        prompt: 'Write a haiku about a spending spree.',
        budget: { softUsd: 1, hardUsd: 3, localOnly: false },
      },
      { jobId: newJobId(generateQueue.queue, keyId) },
    );
    const calls = frontierCalls();
    expect(await settled(key, job.id ?? '')).toMatchObject({ status: 'completed' });
    expect(await row(job.id ?? '')).toMatchObject({ route: 'local' });
    expect(frontierCalls()).toBe(calls);
  });

  it('answers 429 past the hard budget, saying which budget and when it resets, with Retry-After', async () => {
    const { id: keyId, key } = await t.api.key(['generate']);
    await spend(keyId, 'hopper', 3.2);
    const res = await t.api.request('/v1/generations', {
      key,
      json: { userId: 'hopper', taskType: 'summary', prompt: 'Summarise: one more, please.' },
    });
    expect(res.status).toBe(429);
    const now = new Date();
    const midnight = new Date(
      Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1),
    );
    expect(((await res.json()) as ErrorBody).error).toEqual({
      code: 'budget_exceeded',
      message: `user "hopper" has spent $3.20 today, past the hard user daily budget of $3.00 (USER_DAILY_BUDGET_USD_HARD); it resets at ${midnight.toISOString()} (midnight UTC)`,
    });
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(Math.abs(retryAfter - (midnight.getTime() - now.getTime()) / 1000)).toBeLessThan(5);
    // Another user of the same key is not affected.
    await generate(key, { userId: 'lovelace', taskType: 'summary', prompt: 'Summarise: hi.' });
  });

  it("applies a key's override instead of the settings, level by level", async () => {
    const strict = await t.api.key(['generate'], 'strict');
    const generous = await t.api.key(['generate'], 'generous');
    // Set before the keys' first request: the API caches a key's record for a few seconds.
    await setApiKeyBudgets(t.database.db, strict.id, { dailyHardUsd: 0.5 });
    await setApiKeyBudgets(t.database.db, generous.id, { dailyUsd: 5 });
    await spend(strict.id, 'kim', 1);
    await spend(generous.id, 'kim', 1.2);

    const refused = await t.api.request('/v1/generations', {
      key: strict.key,
      json: { userId: 'kim', taskType: 'summary', prompt: 'Summarise: strict.' },
    });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as ErrorBody).error.message).toContain(
      "past the hard user daily budget of $0.50 (this API key's override (lowburn keys budget))",
    );

    // $1.20 is past the setting's $1 but under this key's $5: the frontier stays allowed.
    const id = await generate(generous.key, {
      userId: 'kim',
      taskType: 'summary',
      prompt: 'Summarise: generous.',
    });
    expect((await t.queue('generate').getJob(id))?.data.budget).toEqual({
      softUsd: 5,
      hardUsd: 3,
      localOnly: false,
    });
  });

  it('does not budget work that carries no budget (the precompute, jobs queued before budgets)', async () => {
    const { id: keyId, key } = await t.api.key(['generate', 'read']);
    await spend(keyId, 'nightly', 10);
    const calls = frontierCalls();
    const job = await t.queue('generate').add(
      generateQueue.queue,
      {
        apiKeyId: keyId,
        userId: 'nightly',
        taskType: 'generation',
        prompt: 'Write a tagline for a bakery.',
      },
      { jobId: newJobId(generateQueue.queue, keyId) },
    );
    expect(await settled(key, job.id ?? '')).toMatchObject({ status: 'completed' });
    expect(await row(job.id ?? '')).toMatchObject({ route: 'frontier' });
    expect(frontierCalls()).toBe(calls + 1);
  });
});

describe('a budget day in a time zone other than UTC', () => {
  const zone = 'America/New_York';
  let now = Date.parse('2026-03-07T23:30:00-05:00');
  const t = useTestApi({ USER_DAILY_BUDGET_USD_HARD: '3', SCHEDULE_TZ: zone }, { now: () => now });
  const post = (key: string) =>
    t.api.request('/v1/generations', {
      key,
      json: { userId: 'night-owl', taskType: 'summary', prompt: 'Summarise: late.' },
    });

  it('resets at midnight in SCHEDULE_TZ, DST included', async () => {
    const { id: keyId, key } = await t.api.key(['generate']);
    const spend = (at: number) =>
      addSpend(t.redis, t.api.prefix, zone, {
        apiKeyId: keyId,
        userId: 'night-owl',
        usd: 3.5,
        at: new Date(at),
      });
    // 23:30 in New York is 04:30 UTC the next day: the spend is on New York's 7 March.
    expect((await spend(now)).day).toBe('2026-03-07');
    const refused = await post(key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1800');
    expect(((await refused.json()) as ErrorBody).error.message).toContain(
      'it resets at 2026-03-08T05:00:00.000Z (midnight America/New_York)',
    );

    now = Date.parse('2026-03-08T05:00:00Z');
    expect((await post(key)).status).toBe(202);

    // 8 March is 23 hours long in New York (clocks go forward at 2:00): it ends at 04:00 UTC.
    now = Date.parse('2026-03-08T23:30:00-04:00');
    expect((await spend(now)).day).toBe('2026-03-08');
    const again = await post(key);
    expect(again.status).toBe(429);
    expect(((await again.json()) as ErrorBody).error.message).toContain(
      'it resets at 2026-03-09T04:00:00.000Z',
    );
    now = Date.parse('2026-03-09T04:00:00Z');
    expect((await post(key)).status).toBe(202);
  });
});
