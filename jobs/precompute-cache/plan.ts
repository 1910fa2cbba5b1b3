import type { Config } from '../../shared/config/load-config.ts';
import { AnswerCache } from '../../shared/inference/answer-cache.ts';
import type { GenerationPipeline } from '../../shared/inference/pipeline.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';
import { type Candidate, type Ranking, rankCandidates } from './candidates.ts';

/** A night's work before it is done: the ranked candidates, and which are still fresh. */
export interface PrecomputePlan extends Ranking {
  /** Per candidate (same order): its precomputed or exact entry has more than FRESH_FOR left. */
  fresh: boolean[];
  /** The candidates to answer: the ones not fresh, in rank order. */
  due: Candidate[];
}

export interface PlanOptions {
  config: Config;
  storage: ObjectStorage;
  redis: RedisClient;
  generation: Pick<GenerationPipeline, 'keysOf'>;
  now?: Date;
}

/** Ranks the window's keys and checks which still have a fresh entry (what `--dry-run` prints). */
export async function planPrecompute(options: PlanOptions): Promise<PrecomputePlan> {
  const ranking = await rankCandidates(options);
  const fresh = await freshness(options, ranking.candidates);
  return { ...ranking, fresh, due: ranking.candidates.filter((_, i) => !fresh[i]) };
}

/** Whether each candidate's precomputed or exact entry has more than PRECOMPUTE_FRESH_FOR left. */
async function freshness(
  { config, redis }: PlanOptions,
  candidates: readonly Candidate[],
): Promise<boolean[]> {
  const cache = new AnswerCache(redis, config.queuePrefix);
  const fresh: boolean[] = [];
  for (let i = 0; i < candidates.length; i += 500) {
    const batch = candidates.slice(i, i + 500);
    const pipeline = redis.pipeline();
    for (const c of batch) {
      pipeline.pttl(cache.key('precomputed', c.keys.namespace, c.keys.exact));
      pipeline.pttl(cache.key('exact', c.keys.namespace, c.keys.exact));
    }
    const results = (await pipeline.exec()) ?? [];
    batch.forEach((_, j) => {
      // PTTL: -2 when the key is missing.
      const left = Math.max(
        Number(results[2 * j]?.[1] ?? -2),
        Number(results[2 * j + 1]?.[1] ?? -2),
      );
      fresh.push(left > config.precompute.freshForMs);
    });
  }
  return fresh;
}
