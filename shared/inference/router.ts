import type { InferenceConfig } from '../config/load-config.ts';
import type { Route } from './providers.ts';
import type { ChatMessage } from './request-keys.ts';

/**
 * How hard a request looks, 0–1, from cheap signals: length, how many questions it asks, code,
 * and wording that asks for several steps or a comparison. Only a routing hint, not a judgement.
 */
export function complexity(text: string): number {
  const length = Math.min(text.length / 4_000, 1);
  const questions = Math.min((text.match(/\?/g)?.length ?? 0) / 4, 1);
  const code = /```|\b(function|class|def|SELECT|stack trace|traceback)\b/i.test(text) ? 1 : 0;
  const steps =
    /\b(step by step|explain why|compare|trade-?offs?|root cause|prove|design|plan)\b/i.test(text)
      ? 1
      : 0;
  return Math.min(1, 0.4 * length + 0.2 * questions + 0.2 * code + 0.2 * steps);
}

/**
 * Local or frontier, by task type and input: short routine tasks (summaries, classification,
 * formatting…) go local; reasoning tasks (Q&A, diagnosis) go local only when simple; the rest
 * go to the frontier model. Every threshold comes from config.
 */
export function routeFor(
  taskType: string,
  messages: readonly ChatMessage[],
  config: InferenceConfig['route'],
): Route {
  const text = messages.map((m) => m.content).join('\n');
  if (config.localTasks.includes(taskType)) {
    return text.length <= config.localMaxChars ? 'local' : 'frontier';
  }
  if (config.reasoningTasks.includes(taskType)) {
    return text.length <= config.localMaxChars && complexity(text) < config.complexityMax
      ? 'local'
      : 'frontier';
  }
  return 'frontier';
}
