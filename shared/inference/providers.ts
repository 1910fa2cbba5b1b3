import { Ajv, type ValidateFunction } from 'ajv';
import { Ollama } from 'ollama';
import { ModelError, type Route } from './model-error.ts';
import type { ChatMessage } from './request-keys.ts';

export { ModelError, type ModelFailure, type Route } from './model-error.ts';

/** One model call's outcome, before validation. */
export interface ModelAnswer {
  text: string;
  model: string;
  route: Route;
  tokensIn: number;
  tokensOut: number;
  /** `stop`, or `length` when the model ran out of tokens (the answer is cut off). */
  finish: string;
  latencyMs: number;
}

export interface ChatCall {
  messages: readonly ChatMessage[];
  /** A JSON Schema the answer must satisfy. */
  responseFormat?: Record<string, unknown>;
  timeoutMs: number;
  signal?: AbortSignal;
}

function callSignal(call: ChatCall): AbortSignal {
  const timeout = AbortSignal.timeout(call.timeoutMs);
  return call.signal ? AbortSignal.any([timeout, call.signal]) : timeout;
}

/** Where a model is asked: its URL and the setting that names it, for errors. */
interface Endpoint {
  url: string;
  setting: 'OLLAMA_URL' | 'FRONTIER_URL';
}

/**
 * The job's own abort (shutdown, job timeout) propagates; our per-call timeout is a ModelError.
 * A connection that failed (fetch's bare "fetch failed") names the address, the socket's own
 * error and the setting to check.
 */
function asModelError(route: Route, error: unknown, call: ChatCall, at: Endpoint): ModelError {
  if (error instanceof ModelError) return error;
  if (call.signal?.aborted) throw call.signal.reason ?? error;
  const name = (error as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new ModelError(
      route,
      'timeout',
      `${route} model gave no answer within ${call.timeoutMs} ms`,
      {
        cause: error,
      },
    );
  }
  const cause = (error as Error)?.cause as Error | undefined;
  if (name === 'TypeError' && (error as Error).message === 'fetch failed' && cause?.message) {
    return new ModelError(
      route,
      'error',
      `${route} model at ${at.url} is unreachable (${cause.message}); check ${at.setting}`,
      { cause: error, unreachable: true },
    );
  }
  return new ModelError(
    route,
    'error',
    `${route} model failed: ${(error as Error)?.message ?? error}`,
    {
      cause: error,
    },
  );
}

/** Asks the local Ollama model; `format` carries the JSON Schema when one is required. */
export async function askLocal(
  options: { url: string; model: string },
  call: ChatCall,
): Promise<ModelAnswer> {
  const signal = callSignal(call);
  const ollama = new Ollama({
    host: options.url,
    fetch: (input, init) => fetch(input, { ...init, signal }),
  });
  const started = performance.now();
  try {
    const response = await ollama.chat({
      model: options.model,
      messages: call.messages.map((m) => ({ role: m.role, content: m.content })),
      stream: false,
      ...(call.responseFormat && { format: call.responseFormat }),
    });
    return {
      text: response.message?.content ?? '',
      model: options.model,
      route: 'local',
      tokensIn: response.prompt_eval_count ?? 0,
      tokensOut: response.eval_count ?? 0,
      finish: response.done_reason ?? 'stop',
      latencyMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    throw asModelError('local', error, call, { url: options.url, setting: 'OLLAMA_URL' });
  }
}

/** Asks an OpenAI-compatible chat completions API (OpenAI, Groq, OpenRouter, …). */
export async function askFrontier(
  options: { url: string; apiKey: string; model: string },
  call: ChatCall,
): Promise<ModelAnswer> {
  const signal = callSignal(call);
  const started = performance.now();
  try {
    const response = await fetch(`${options.url.replace(/\/+$/, '')}/chat/completions`, {
      method: 'POST',
      signal,
      headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: options.model,
        messages: call.messages,
        ...(call.responseFormat && {
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'answer', schema: call.responseFormat },
          },
        }),
      }),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new ModelError(
        'frontier',
        'error',
        `frontier model answered HTTP ${response.status}: ${text.slice(0, 300)}`,
      );
    }
    const body = JSON.parse(text) as {
      choices?: { message?: { content?: string | null }; finish_reason?: string }[];
      usage?: { prompt_tokens?: number; completion_tokens?: number };
    };
    const choice = body.choices?.[0];
    return {
      text: choice?.message?.content ?? '',
      model: options.model,
      route: 'frontier',
      tokensIn: body.usage?.prompt_tokens ?? 0,
      tokensOut: body.usage?.completion_tokens ?? 0,
      finish: choice?.finish_reason ?? 'stop',
      latencyMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new ModelError(
        'frontier',
        'invalid',
        `frontier model sent malformed JSON: ${error.message}`,
      );
    }
    throw asModelError('frontier', error, call, { url: options.url, setting: 'FRONTIER_URL' });
  }
}

/** Embeds texts with the Ollama embed API, in one request (a `TimeoutError` past `timeoutMs`). */
export async function embedTexts(
  options: { url: string; model: string; timeoutMs?: number },
  inputs: string[],
): Promise<number[][]> {
  const { timeoutMs } = options;
  const ollama = new Ollama({
    host: options.url,
    ...(timeoutMs !== undefined && {
      fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) }),
    }),
  });
  const response = await ollama.embed({ model: options.model, input: inputs });
  return response.embeddings;
}

const ajv = new Ajv({ allErrors: false, strict: false });
const validators = new WeakMap<object, ValidateFunction>();

/**
 * The largest answer a generation keeps (256 KiB of UTF-8). Real answers are far smaller (a
 * 32k-token answer is ~130 KB); a model that runs on for megabytes is misbehaving, and a row that
 * large would stop the day's cold export (DuckDB reads at most 2 MiB of CSV per row; prompts are
 * capped at 256 KB by the API's body limit). Such an answer is invalid output: from the local
 * model it falls back to the frontier model.
 */
export const MAX_ANSWER_BYTES = 256 * 1024;

/**
 * Why an answer cannot be used, or `undefined` when it can: it must be non-empty, not cut off by
 * the token limit and at most {@link MAX_ANSWER_BYTES}; with a JSON Schema it must also parse and
 * satisfy it.
 */
export function answerProblem(
  answer: ModelAnswer,
  responseFormat?: Record<string, unknown>,
): string | undefined {
  if (answer.finish === 'length') return 'the answer was cut off (token limit)';
  if (answer.text.trim() === '') return 'the answer is empty';
  const bytes = Buffer.byteLength(answer.text);
  if (bytes > MAX_ANSWER_BYTES) {
    return `the answer is ${bytes} bytes, more than the ${MAX_ANSWER_BYTES} a generation stores`;
  }
  if (!responseFormat) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    return 'the answer is not JSON';
  }
  let validate = validators.get(responseFormat);
  if (!validate) {
    validate = ajv.compile(responseFormat);
    validators.set(responseFormat, validate);
  }
  if (!validate(parsed)) {
    const first = validate.errors?.[0];
    return `the answer does not match responseFormat: ${first?.instancePath || '/'} ${first?.message ?? ''}`.trim();
  }
  return undefined;
}
