import { shadowCompareQueue } from '../../shared/generation/shadow-compare-queue.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { compareShadow } from './compare.ts';
import { shadowMetrics } from './metrics.ts';

/**
 * The shadow comparison: a sample (`SHADOW_SAMPLE_RATE`) of the local model's answers, queued
 * by the generate job after the caller's answer was recorded, asked of the frontier model again
 * and compared (`compare.ts`). Per task type, the agreement rate is the quality gate for moving
 * more traffic local (`lowburn finetune report`); a disagreement is a training pair.
 */
export const shadowCompareJob = defineJob({
  ...shadowCompareQueue,
  async process(payload, { deps, signal, log }) {
    const result = await compareShadow(payload, deps, signal);
    if (result.outcome === 'no-frontier') {
      log.warn('no frontier model configured (FRONTIER_URL): shadow comparison skipped');
    } else if (result.outcome !== 'already-recorded') {
      shadowMetrics(deps.metrics).record(result.taskType, result.outcome, result.costUsd);
    }
    return result;
  },
});
