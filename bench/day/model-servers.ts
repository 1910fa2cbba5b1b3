// The model servers of the day: the test Ollama and OpenAI servers, with the day's token counts
// (1,000 in and 500 out on average, the flat-cost seed's table, spread over the calls), local
// answers that take their output tokens at DAY_LOCAL_TOKENS_PER_S, and a seeded share of local
// answers that fail or come back invalid.

import {
  type ModelTestServer,
  startOllamaServer,
  startOpenAIServer,
} from '../../test/fixtures/model-servers.ts';
import { rng } from '../zipf-workload.ts';
import type { DaySettings } from './settings.ts';

export interface DayModels {
  ollama: ModelTestServer;
  openai: ModelTestServer;
  close(): Promise<void>;
}

export async function startDayModels(s: DaySettings): Promise<DayModels> {
  const random = rng(s.seed ^ 0x30de1);
  // Drawn per call, in the order calls arrive: 500–1,500 in (mean 1,000), 100–900 out (mean 500).
  const tokens = () => ({
    promptTokens: 500 + Math.floor(random() * 1_001),
    completionTokens: 100 + Math.floor(random() * 801),
  });
  const pending = new WeakMap<object, { promptTokens: number; completionTokens: number }>();
  const drawn = (call: object) => {
    let t = pending.get(call);
    if (!t) {
      t = tokens();
      pending.set(call, t);
    }
    return t;
  };
  const ollama = await startOllamaServer({
    latencyMs: (call) =>
      call.path === '/api/chat'
        ? (drawn(call).completionTokens / s.localTokensPerS) * 1_000
        : call.path === '/api/embed'
          ? 5
          : 1,
  });
  const openai = await startOpenAIServer({ latencyMs: 120 });
  ollama.handle((call) => {
    if (call.path !== '/api/chat') return undefined;
    const t = drawn(call);
    const u = random();
    if (u < s.localFailure / 2) return { status: 500, error: 'model crashed' };
    // Invalid: cut off at the token limit (JSON wanted: broken JSON).
    if (u < s.localFailure) return { ...t, truncated: true, invalidJson: true };
    return t;
  });
  openai.handle((call) => drawn(call));
  return {
    ollama,
    openai,
    close: async () => {
      await ollama.close();
      await openai.close();
    },
  };
}
