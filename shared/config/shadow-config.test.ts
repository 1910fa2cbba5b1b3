import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.ts';

const base = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
};
const frontier = { FRONTIER_URL: 'https://api.openai.com/v1', FRONTIER_API_KEY: 'sk-test' };

describe('the shadow settings', () => {
  it('are off by default', () => {
    expect(loadConfig({ ...base, ...frontier }).shadow).toEqual({
      sampleRate: 0,
      minSimilarity: 0.9,
      offWithoutFrontier: false,
    });
  });

  it('sample at SHADOW_SAMPLE_RATE when a frontier model is configured', () => {
    const config = loadConfig({ ...base, ...frontier, SHADOW_SAMPLE_RATE: '0.05' });
    expect(config.shadow).toMatchObject({ sampleRate: 0.05, offWithoutFrontier: false });
  });

  it('are off without a frontier model, and say why', () => {
    const config = loadConfig({ ...base, SHADOW_SAMPLE_RATE: '0.05' });
    expect(config.shadow).toMatchObject({ sampleRate: 0, offWithoutFrontier: true });
  });

  it('refuse a rate outside 0..1', () => {
    expect(() => loadConfig({ ...base, SHADOW_SAMPLE_RATE: '2' })).toThrow(/SHADOW_SAMPLE_RATE/);
  });
});
