import type { GenerationRequest } from '../inference/pipeline.ts';
import type { ChatMessage } from '../inference/request-keys.ts';
import { renderTemplate, TemplateError } from '../inference/templates.ts';
import type { GeneratePayload } from './schema.ts';
import { templates } from './templates.ts';

/** A payload that can never be answered (an unknown template, params it rejects): permanent. */
export class UnresolvableRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnresolvableRequestError';
  }
}

/**
 * A `generate` payload as the pipeline takes it: its input as chat messages (a template
 * rendered) and the caches it may use. The generate job answers it; the nightly precompute and
 * the cache audit rebuild it from a recorded row's `request`, so all three key it alike.
 */
export function resolveRequest(payload: GeneratePayload): GenerationRequest {
  const base = {
    taskType: payload.taskType,
    responseFormat: payload.responseFormat,
    cache: {
      scope: payload.cacheScope ?? payload.apiKeyId,
      mode: payload.cache ?? 'shared',
      userId: payload.userId,
    },
  };
  if (payload.messages) return { ...base, messages: payload.messages as ChatMessage[] };
  if (payload.prompt !== undefined) {
    return { ...base, messages: [{ role: 'user', content: payload.prompt }] };
  }
  const template = templates.get(payload.template ?? '');
  if (!template) {
    throw new UnresolvableRequestError(
      `unknown template "${payload.template}"; registered: ${[...templates.keys()].join(', ')}`,
    );
  }
  const params = payload.params ?? {};
  try {
    return {
      ...base,
      messages: [{ role: 'user', content: renderTemplate(template, params) }],
      template: { template, params },
    };
  } catch (error) {
    if (error instanceof TemplateError) throw new UnresolvableRequestError(error.message);
    throw error;
  }
}

/** The request's messages as one text (`role: content` lines), as `generations.prompt` holds it. */
export const promptOf = (request: GenerationRequest) =>
  request.messages.map((m) => `${m.role}: ${m.content}`).join('\n');
