import type { CacheAuditConfig, InferenceConfig } from '../../shared/config/load-config.ts';
import { judgeHit, type Verdict } from './judge.ts';
import { type SampleOptions, sampleSemanticHits } from './semantic-hits.ts';
import { wilsonInterval } from './wilson.ts';

/** What the audit found for one task type on one day. */
export interface TaskAudit {
  taskType: string;
  /** The day's semantic hits of this task type. */
  semanticHits: number;
  /** Of those, asked again. */
  sampled: number;
  /** Of those, judged: the rate's denominator. */
  sampleSize: number;
  falseHits: number;
  /** Asked again but not judged (the model failed or answered unusably, the template is gone). */
  inconclusive: number;
  /** `falseHits / sampleSize`, or `null` when nothing was judged. */
  rate: number | null;
  /** The rate's 95 % Wilson score interval, `null` when nothing was judged. */
  interval: { low: number; high: number } | null;
  /** The rate is above `SEMANTIC_MAX_FALSE_HIT`. */
  aboveThreshold: boolean;
}

export interface AuditResult {
  day: string;
  semanticHits: number;
  sampled: number;
  /** One per task type with semantic hits that day, by name; empty: nothing to audit. */
  tasks: TaskAudit[];
}

export interface AuditOptions extends Omit<SampleOptions, 'rate' | 'max'> {
  inference: InferenceConfig;
  audit: CacheAuditConfig;
  signal?: AbortSignal;
}

/**
 * The false-hit audit of one day: draws a sample of its semantic hits, asks the local model each
 * again (one at a time: the local model is the night's shared resource, and the precompute has
 * just used it) and counts, per task type, how often the cached answer was not the answer.
 */
export async function auditCache(options: AuditOptions): Promise<AuditResult> {
  const { hitsByTask, sample } = await sampleSemanticHits({
    ...options,
    rate: options.audit.sampleRate,
    max: options.audit.maxSamples,
  });
  const verdicts: { taskType: string; verdict: Verdict }[] = [];
  for (const hit of sample) {
    options.signal?.throwIfAborted();
    const verdict = await judgeHit(hit, {
      inference: options.inference,
      minSimilarity: options.audit.minSimilarity,
      signal: options.signal,
    });
    verdicts.push({ taskType: hit.taskType, verdict });
  }
  const tasks = [...hitsByTask].map(([taskType, semanticHits]) => {
    const mine = verdicts.filter((v) => v.taskType === taskType).map((v) => v.verdict.kind);
    return taskAudit(taskType, semanticHits, mine, options.audit.maxFalseHit);
  });
  return {
    day: options.day,
    semanticHits: [...hitsByTask.values()].reduce((a, b) => a + b, 0),
    sampled: sample.length,
    tasks,
  };
}

function taskAudit(
  taskType: string,
  semanticHits: number,
  kinds: Verdict['kind'][],
  maxFalseHit: number,
): TaskAudit {
  const falseHits = kinds.filter((k) => k === 'false-hit').length;
  const inconclusive = kinds.filter((k) => k === 'inconclusive').length;
  const sampleSize = kinds.length - inconclusive;
  const rate = sampleSize > 0 ? falseHits / sampleSize : null;
  return {
    taskType,
    semanticHits,
    sampled: kinds.length,
    sampleSize,
    falseHits,
    inconclusive,
    rate,
    interval: sampleSize > 0 ? wilsonInterval(falseHits, sampleSize) : null,
    aboveThreshold: rate !== null && rate > maxFalseHit,
  };
}
