import { describe, expect, it } from 'vitest';
import { freePort } from '../../test/fixtures/free-port.ts';
import { askFrontier, askLocal, ModelError } from './providers.ts';

describe('a model that cannot be reached', () => {
  const call = { messages: [{ role: 'user' as const, content: 'hi' }], timeoutMs: 5_000 };

  it('names the address, the socket error and the setting to check', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const local = await askLocal({ url, model: 'm' }, call).catch((error: unknown) => error);
    expect(local).toBeInstanceOf(ModelError);
    expect((local as ModelError).message).toBe(
      `local model at ${url} is unreachable (connect ECONNREFUSED ${url.slice(7)}); check OLLAMA_URL`,
    );
    const frontier = await askFrontier({ url, apiKey: 'k', model: 'm' }, call).catch(
      (error: unknown) => error,
    );
    expect((frontier as ModelError).message).toBe(
      `frontier model at ${url} is unreachable (connect ECONNREFUSED ${url.slice(7)}); check FRONTIER_URL`,
    );
    expect((frontier as ModelError).reason).toBe('error');
  });
});
