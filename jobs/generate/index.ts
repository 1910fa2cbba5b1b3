import { createHash } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import type { Selectable } from 'kysely';
import type { GenerationsTable } from '../../shared/db/database.ts';
import type { PrecomputeAnswer } from '../../shared/generation/precompute.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import {
  promptOf,
  resolveRequest,
  UnresolvableRequestError,
} from '../../shared/generation/resolve-request.ts';
import type { GeneratePayload } from '../../shared/generation/schema.ts';
import { FrontierBudgetError } from '../../shared/inference/frontier-budget-error.ts';
import { isNoModelReachable } from '../../shared/inference/no-fallback-error.ts';
import type { GenerationOutcome } from '../../shared/inference/pipeline.ts';
import { normaliseText } from '../../shared/inference/request-keys.ts';
import { toStorableJson } from '../../shared/json/storable-text.ts';
import { defineJob, type JobContext } from '../../shared/queue/job-definition.ts';
import { enqueueWebhook } from '../../shared/webhooks/enqueue.ts';
import { frontierGate, recordSpend } from './budget.ts';
import { generationMetrics } from './metrics.ts';
import { precomputeAnswer } from './precompute-answer.ts';
import { recordedGeneration, recordGeneration } from './record.ts';
import { sampleShadow } from './shadow-sample.ts';

/** What a finished generation job returns (and `GET /v1/jobs/:id` shows as `result`). */
export interface GenerationResult {
  answer: string;
  /** The answer parsed, when the request had a `responseFormat`. */
  data?: unknown;
  /** `cache` when a cache layer answered, else the model route. */
  source: 'cache' | 'local' | 'frontier';
  layer: GenerationOutcome['layer'] | null;
  model: string;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
  latencyMs: number;
  /** Set when the local model failed and the frontier model answered instead. */
  fallback?: { reason: string; message: string };
  metadata?: Record<string, unknown>;
}

/** The payload as the pipeline takes it; one that can never be answered fails for good. */
function resolvePayload(payload: GeneratePayload) {
  try {
    return resolveRequest(payload);
  } catch (error) {
    if (error instanceof UnresolvableRequestError) throw new UnrecoverableError(error.message);
    throw error;
  }
}

function resultFromRow(row: Selectable<GenerationsTable>, metadata: unknown): GenerationResult {
  return {
    answer: row.response ?? '',
    source: row.cache_layer ? 'cache' : (row.route ?? 'local'),
    layer: row.cache_layer,
    model: row.model ?? '',
    tokensIn: row.tokens_in,
    tokensOut: row.tokens_out,
    costUsd: Number(row.cost_usd),
    latencyMs: row.latency_ms ?? 0,
    ...(metadata ? { metadata: metadata as Record<string, unknown> } : {}),
  };
}

/** Tells the caller, when they asked for a webhook. Idempotent: a retry enqueues nothing twice. */
async function notify(
  ctx: JobContext,
  payload: GeneratePayload,
  event:
    | { type: 'generation.completed'; result: GenerationResult }
    | { type: 'generation.failed'; error: string },
) {
  if (!payload.webhookUrl || !ctx.job.id) return;
  await enqueueWebhook(ctx.deps, {
    apiKeyId: payload.apiKeyId,
    jobId: ctx.job.id,
    url: payload.webhookUrl,
    event: { ...event, metadata: payload.metadata ?? null, createdAt: new Date(ctx.job.timestamp) },
  });
}

/**
 * The generate processor: caches first, the local model next, the paid API last (see
 * `shared/inference/pipeline.ts`); every job leaves one row in `generations` keyed by its job
 * id, and a webhook when the caller asked for one.
 */
export const generateJob = defineJob({
  ...generateQueue,
  // A model server that refuses connections (a restart, a deploy) is waited out for
  // MODEL_OUTAGE_WAIT before the request fails: the caller's answer comes late, not never.
  waitsOut: (error, config) =>
    isNoModelReachable(error)
      ? { reason: 'model_unreachable', forMs: config.inference.modelOutageWaitMs }
      : undefined,
  async process(payload, ctx): Promise<GenerationResult | PrecomputeAnswer> {
    if (payload.precompute) return precomputeAnswer(payload, ctx);
    const { job, deps, signal } = ctx;
    const metrics = generationMetrics(deps.metrics);
    const id = job.id ?? '';
    // An earlier run of this job id that got as far as its row is finished: answer from the
    // row, never call a model twice for one job.
    const done = await recordedGeneration(deps.db, id);
    if (done?.status === 'completed') {
      const result = resultFromRow(done, payload.metadata);
      await notify(ctx, payload, { type: 'generation.completed', result });
      return result;
    }

    const started = performance.now();
    const row = baseRow(id, new Date(job.timestamp), payload);
    try {
      const request = resolvePayload(payload);
      row.prompt = promptOf(request);
      row.prompt_hash = createHash('sha256').update(normaliseText(row.prompt)).digest('hex');
      const frontierAllowed = frontierGate(payload, deps);
      const outcome = await deps.generation.generate(
        request,
        signal,
        frontierAllowed ? { frontierAllowed } : {},
      );
      const latencyMs = Math.round(performance.now() - started);
      const result: GenerationResult = {
        answer: outcome.answer,
        ...(request.responseFormat ? { data: JSON.parse(outcome.answer) as unknown } : {}),
        source: outcome.layer ? 'cache' : (outcome.route ?? 'local'),
        layer: outcome.layer ?? null,
        model: outcome.model,
        tokensIn: outcome.tokensIn,
        tokensOut: outcome.tokensOut,
        costUsd: outcome.costUsd,
        latencyMs,
        ...(outcome.fallback && { fallback: outcome.fallback }),
        ...(payload.metadata && { metadata: payload.metadata }),
      };
      await recordGeneration(deps.db, {
        ...row,
        response: outcome.answer,
        status: 'completed',
        cache_layer: outcome.layer ?? null,
        route: outcome.layer ? null : (outcome.route ?? null),
        model: outcome.model,
        tokens_in: outcome.tokensIn,
        tokens_out: outcome.tokensOut,
        cost_usd: outcome.costUsd.toFixed(8),
        latency_ms: latencyMs,
        fallback_reason: outcome.fallback ? fallbackReason(outcome.fallback.reason) : null,
      });
      // The answer is recorded: a spend that cannot be counted must not fail it.
      await recordSpend(ctx, payload, outcome.costUsd).catch((error: unknown) =>
        ctx.log.warn(
          { err: error },
          'could not add the generation’s cost to its user’s budget spend',
        ),
      );
      metrics.observe(outcome, latencyMs, request, deps.config.inference);
      await sampleShadow(ctx, id, payload, outcome);
      await notify(ctx, payload, { type: 'generation.completed', result });
      return result;
    } catch (error) {
      // The last attempt (or a permanent error) leaves a failed row and a failed event; an
      // attempt that will be retried or waited out, or one cut short by shutdown, leaves nothing.
      const final =
        error instanceof UnrecoverableError ||
        (job.attemptsMade + 1 >= (job.opts.attempts ?? 1) && !ctx.waitsOut(error));
      if (final && !signal.aborted) {
        const message = error instanceof Error ? error.message : String(error);
        metrics.failures.inc({ task_type: payload.taskType });
        await recordGeneration(deps.db, {
          ...row,
          status: 'failed',
          error: message,
          // The frontier fallback was withheld by the user's budget.
          fallback_reason: error instanceof FrontierBudgetError ? 'budget' : null,
          latency_ms: Math.round(performance.now() - started),
        });
        await notify(ctx, payload, { type: 'generation.failed', error: message });
      }
      throw error;
    }
  },
});

/** A fallback's reason as the row records it. */
function fallbackReason(reason: string): 'error' | 'timeout' | 'invalid' {
  return reason === 'timeout' || reason === 'invalid' ? reason : 'error';
}

/** The row's fields known before anything runs; the prompt is filled in once rendered. */
function baseRow(id: string, createdAt: Date, payload: GeneratePayload) {
  const prompt = payload.prompt ?? `template ${payload.template ?? ''}`;
  return {
    id,
    created_at: createdAt,
    api_key_id: payload.apiKeyId,
    user_id: payload.userId,
    task_type: payload.taskType,
    prompt,
    prompt_hash: createHash('sha256').update(normaliseText(prompt)).digest('hex'),
    request: toStorableJson(payload),
    metadata: payload.metadata ? toStorableJson(payload.metadata) : null,
  };
}
