import type { Config } from '../../shared/config/load-config.ts';
import type { Logger } from '../../shared/log/logger.ts';
import type { AuditResult, TaskAudit } from './audit-cache.ts';

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The `SEMANTIC_MIN_SCORE` a task type's semantic hits are judged by now (as the pipeline reads it). */
const minScoreOf = (config: Config, taskType: string) =>
  config.inference.semanticMinScore[taskType] ?? config.inference.semanticMinScore['*'] ?? 0.95;

/**
 * The audit in the run's log: one line per task type, and a warning for each whose rate is above
 * `SEMANTIC_MAX_FALSE_HIT`, naming the task type, the threshold to raise (`SEMANTIC_MIN_SCORE`)
 * and a setting that raises it a step.
 */
export function logAudit(result: AuditResult, log: Logger, config: Config): void {
  const { day } = result;
  if (result.tasks.length === 0) {
    log.info({ day }, `no semantic hits on ${day}: nothing to audit`);
    return;
  }
  for (const task of result.tasks) {
    const fields = { day, ...task };
    if (task.rate === null || task.interval === null) {
      log.info(fields, `${task.taskType}: none of ${task.semanticHits} semantic hits judged`);
      continue;
    }
    const measured = `${pct(task.rate)} (95 % CI ${pct(task.interval.low)}–${pct(task.interval.high)}, ${task.falseHits} of ${task.sampleSize} judged)`;
    if (!task.aboveThreshold) {
      log.info(fields, `${task.taskType}: semantic false-hit rate ${measured}`);
      continue;
    }
    log.warn(
      { ...fields, threshold: config.cacheAudit.maxFalseHit, raise: 'SEMANTIC_MIN_SCORE' },
      warning(task, measured, day, config),
    );
  }
  log.info(
    { day, semanticHits: result.semanticHits, sampled: result.sampled },
    `audited ${result.sampled} of ${result.semanticHits} semantic hits on ${day}`,
  );
}

function warning(task: TaskAudit, measured: string, day: string, config: Config): string {
  const current = minScoreOf(config, task.taskType);
  const next = Math.min(1, Math.round((current + 0.02) * 100) / 100);
  const setting = JSON.stringify({ ...config.inference.semanticMinScore, [task.taskType]: next });
  return (
    `semantic cache false-hit rate of task type "${task.taskType}" on ${day} is ${measured}, ` +
    `above SEMANTIC_MAX_FALSE_HIT ${pct(config.cacheAudit.maxFalseHit)}: raise SEMANTIC_MIN_SCORE ` +
    `for "${task.taskType}" above its ${current}, e.g. SEMANTIC_MIN_SCORE='${setting}'`
  );
}
