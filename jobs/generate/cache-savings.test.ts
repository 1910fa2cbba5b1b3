import { describe, expect, it } from 'vitest';
import { resolveRequest as resolvePayload } from '../../shared/generation/resolve-request.ts';
import type { GeneratePayload } from '../../shared/generation/schema.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { avoidedCostUsd, layersTried } from './cache-savings.ts';

/** A request as the generate job resolves its payload. */
const resolveRequest = (input: Omit<GeneratePayload, 'apiKeyId' | 'userId'>) =>
  resolvePayload({ apiKeyId: '00000000-0000-4000-8000-000000000000', userId: 'u', ...input });

const withFrontier = testConfig({
  FRONTIER_URL: 'https://frontier.example.com/v1',
  FRONTIER_API_KEY: 'sk-test',
  FRONTIER_MODEL: 'gpt-4o-mini',
  MODEL_PRICES: '{"gpt-4o-mini":{"input":0.15,"output":0.6}}',
}).inference;

describe('the cache layers a request was looked up in', () => {
  const prompt = resolveRequest({ taskType: 'summary', prompt: 'Sum up the memo' });

  it('are every layer up to the one that answered', () => {
    expect(layersTried(prompt)).toEqual(['precomputed', 'exact', 'semantic']);
    expect(layersTried(prompt, 'exact')).toEqual(['precomputed', 'exact']);
    expect(layersTried(prompt, 'semantic')).toEqual(['precomputed', 'exact', 'semantic']);
  });

  it('include the template layer only for templates, and no semantic layer for a chat', () => {
    const template = resolveRequest({
      taskType: 'formatting',
      template: 'product-title',
      params: { product: 'red shoes' },
    });
    expect(layersTried(template)).toEqual(['precomputed', 'exact', 'template', 'semantic']);
    const chat = resolveRequest({
      taskType: 'qa',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: 'And then?' },
      ],
    });
    expect(layersTried(chat)).toEqual(['precomputed', 'exact']);
  });

  it('are none when the request turned caching off', () => {
    expect(layersTried({ ...prompt, cache: { scope: 's', mode: 'off' } })).toEqual([]);
  });
});

describe('what a hit saved', () => {
  it('is the frontier price of the estimated tokens for a frontier-routed request', () => {
    const request = resolveRequest({ taskType: 'generation', prompt: 'x'.repeat(400) });
    // 100 tokens in at $0.15/M, 50 out at $0.60/M.
    expect(avoidedCostUsd(request, 'y'.repeat(199), withFrontier)).toBeCloseTo(
      (100 * 0.15 + 50 * 0.6) / 1e6,
      12,
    );
  });

  it('is nothing for a locally routed request while the local model has no price', () => {
    const local = resolveRequest({ taskType: 'summary', prompt: 'Sum up the memo' });
    expect(avoidedCostUsd(local, 'The memo says…', withFrontier)).toBe(0);
    const frontier = resolveRequest({ taskType: 'generation', prompt: 'Write a poem' });
    expect(avoidedCostUsd(frontier, 'A poem', { ...withFrontier, prices: {} })).toBe(0);
  });

  it("is the local model's price when MODEL_PRICES gives it one, and local without a frontier", () => {
    const priced = { ...withFrontier.prices, 'llama3.2:3b': { input: 0.01, output: 0.02 } };
    const local = resolveRequest({ taskType: 'summary', prompt: 'x'.repeat(40) });
    expect(avoidedCostUsd(local, 'y'.repeat(20), { ...withFrontier, prices: priced })).toBeCloseTo(
      (10 * 0.01 + 5 * 0.02) / 1e6,
      12,
    );
    // Without a frontier model the pipeline answers everything locally.
    const frontierRouted = resolveRequest({ taskType: 'generation', prompt: 'x'.repeat(40) });
    const localOnly = testConfig({ MODEL_PRICES: JSON.stringify(priced) }).inference;
    expect(avoidedCostUsd(frontierRouted, 'y'.repeat(20), localOnly)).toBeCloseTo(
      (10 * 0.01 + 5 * 0.02) / 1e6,
      12,
    );
  });
});
