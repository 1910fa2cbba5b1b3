import type { InferenceConfig } from '../config/load-config.ts';
import type { Logger } from '../log/logger.ts';
import { FrontierBudgetError } from './frontier-budget-error.ts';
import { modelServersFor } from './model-servers.ts';
import { NoFallbackError } from './no-fallback-error.ts';
import {
  answerProblem,
  askFrontier,
  askLocal,
  type ModelAnswer,
  ModelError,
  type Route,
} from './providers.ts';
import type { ChatMessage } from './request-keys.ts';
import { routeFor } from './router.ts';

/** What the model path needs of a request. */
export interface ModelRequest {
  taskType: string;
  messages: ChatMessage[];
  responseFormat?: Record<string, unknown>;
}

export interface ModelCallOptions {
  /** Route every request here first, whatever the router says. */
  firstRoute?: Route;
  /** Ask the frontier model when the local one fails. @defaultValue true when one is configured */
  fallback?: boolean;
  /**
   * Asked right before any frontier call (a user's daily budget): `false` sends a request
   * routed to the frontier to the local model instead, and fails a local answer that would
   * have fallen back with a {@link FrontierBudgetError}. @defaultValue always allowed
   */
  frontierAllowed?: (() => Promise<boolean>) | undefined;
  signal?: AbortSignal | undefined;
}

export interface ModelCalls {
  /** The routed model, and the frontier one when a local answer fails; answers validated. */
  call(
    request: ModelRequest,
    options?: ModelCallOptions,
  ): Promise<{ answer: ModelAnswer; fallback?: { reason: string; message: string } }>;
  /** What an answer cost in USD at the configured prices (the local model costs 0). */
  cost(answer: Pick<ModelAnswer, 'route' | 'model' | 'tokensIn' | 'tokensOut'>): number;
}

const frontierAllowed = (options: ModelCallOptions) =>
  options.frontierAllowed ? options.frontierAllowed() : Promise.resolve(true);

/**
 * The model half of the pipeline: route, ask, validate, fall back. An answer that fails its
 * schema (or is cut off) is a `ModelError('invalid')`, so it is never cached.
 */
export function createModelCalls(
  config: InferenceConfig,
  log: Logger,
  onModelCall?: (route: Route) => void,
): ModelCalls {
  const servers = modelServersFor(config, log);
  async function ask(route: Route, request: ModelRequest, signal?: AbortSignal) {
    const call = { messages: request.messages, responseFormat: request.responseFormat, signal };
    onModelCall?.(route);
    const answer =
      route === 'local'
        ? await servers.run((url) =>
            askLocal(
              { url, model: config.localModel },
              { ...call, timeoutMs: config.localTimeoutMs },
            ),
          )
        : await askFrontier(config.frontier as NonNullable<InferenceConfig['frontier']>, {
            ...call,
            timeoutMs: config.frontier?.timeoutMs ?? 60_000,
          });
    const problem = answerProblem(answer, request.responseFormat);
    if (problem) throw new ModelError(route, 'invalid', `${route} model: ${problem}`);
    return answer;
  }

  return {
    async call(request, options = {}) {
      const routed =
        options.firstRoute ?? routeFor(request.taskType, request.messages, config.route);
      // Without a paid API (or past the user's budget) everything the fleet can answer, it
      // answers locally.
      let first: Route = routed === 'frontier' && !config.frontier ? 'local' : routed;
      if (first === 'frontier' && !(await frontierAllowed(options))) first = 'local';
      try {
        return { answer: await ask(first, request, options.signal) };
      } catch (error) {
        if (!(error instanceof ModelError) || first !== 'local') throw error;
        if (!config.frontier) throw new NoFallbackError(error);
        if (options.fallback === false) throw error;
        if (!(await frontierAllowed(options))) throw new FrontierBudgetError(error);
        log.warn(
          { reason: error.reason, err: error.message },
          'local model failed; asking the frontier model',
        );
        const answer = await ask('frontier', request, options.signal);
        return { answer, fallback: { reason: error.reason, message: error.message } };
      }
    },

    cost(answer) {
      if (answer.route === 'local') return 0;
      const price = config.prices[answer.model];
      if (!price) return 0;
      return (answer.tokensIn * price.input + answer.tokensOut * price.output) / 1_000_000;
    },
  };
}
