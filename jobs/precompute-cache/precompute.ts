import { setTimeout as sleep } from 'node:timers/promises';
import { Job, Queue } from 'bullmq';
import { utcDay } from '../../shared/db/partitions.ts';
import { auditCacheQueue, auditJobId } from '../../shared/generation/audit-cache-queue.ts';
import {
  PRECOMPUTE_PRIORITY,
  type PrecomputeAnswer,
  precomputeJobId,
} from '../../shared/generation/precompute.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import type { JobContext } from '../../shared/queue/job-definition.ts';
import type { Candidate } from './candidates.ts';
import { emptyTally, finishRun, type RunTally, recordProgress, startRun } from './ledger.ts';
import { precomputeMetrics } from './metrics.ts';
import { planPrecompute } from './plan.ts';

export interface PrecomputeSummary extends RunTally {
  runId: string;
  from: string;
  to: string;
  /** `time`: the wall-clock budget ran out before every candidate was started. */
  stoppedBy: 'time' | null;
  wallMs: number;
}

/** How often the run looks at its in-flight jobs. */
const POLL_MS = 20;
/** Counts are written to the ledger at least this often. */
const PROGRESS_EVERY_MS = 5_000;

/**
 * One night's precompute: rank the window's most asked keys, skip those still fresh, then answer
 * the rest as `generate` jobs — `PRECOMPUTE_CONCURRENCY` at a time, at a priority below live
 * requests — until done or `PRECOMPUTE_BUDGET_TIME` runs out. Every key's job id is fixed for the
 * night, so a run killed half way and run again answers only what is still missing.
 */
export async function runPrecompute(ctx: JobContext): Promise<PrecomputeSummary> {
  const { deps, job, log, signal } = ctx;
  const { config, db } = deps;
  const settings = config.precompute;
  const started = Date.now();
  const deadline = started + settings.budgetTimeMs;
  const runId = job.id ?? `manual-${started}`;
  const metrics = precomputeMetrics(deps.metrics);

  const plan = await planPrecompute({
    config,
    storage: deps.storage,
    redis: deps.redis,
    generation: deps.generation,
  });
  const night = plan.to.toISOString().slice(0, 10);
  await startRun(db, {
    id: runId,
    from: plan.from,
    to: plan.to,
    staleAfterMs: settings.budgetTimeMs + config.inference.localTimeoutMs + 15 * 60_000,
  });
  const tally = emptyTally();
  tally.candidates = plan.candidates.length;
  let stoppedBy: 'time' | null = null;
  try {
    const { due } = plan;
    tally.skippedFresh = plan.candidates.length - due.length;
    log.info(
      {
        rows: plan.rows,
        coldRows: plan.coldRows,
        candidates: tally.candidates,
        fresh: tally.skippedFresh,
      },
      'precompute candidates ranked',
    );
    const queue = new Queue(generateQueue.queue, {
      connection: deps.redis,
      prefix: config.queuePrefix,
    });
    try {
      stoppedBy = await answerAll(ctx, queue, due, { night, deadline, tally, runId });
    } finally {
      await queue.close();
    }
  } catch (error) {
    // A shutdown leaves the row `running`: the job runs again and resumes it.
    if (!signal.aborted) {
      const message = error instanceof Error ? error.message : String(error);
      await finishRun(db, runId, {
        tally,
        wallMs: Date.now() - started,
        stoppedBy,
        error: message,
      });
    }
    throw error;
  }
  const wallMs = Date.now() - started;
  await finishRun(db, runId, { tally, wallMs, stoppedBy });
  // Then the false-hit audit of yesterday's semantic hits, once a day however often this runs.
  const yesterday = utcDay(plan.to, -1);
  await deps.enqueue(auditCacheQueue, { day: yesterday }, { jobId: auditJobId(yesterday) });
  metrics.observe(tally, wallMs / 1000, stoppedBy);
  const summary = {
    runId,
    from: plan.from.toISOString(),
    to: plan.to.toISOString(),
    ...tally,
    stoppedBy,
    wallMs,
  };
  const level = stoppedBy ? 'warn' : 'info';
  log[level](
    summary,
    stoppedBy
      ? `precompute stopped by PRECOMPUTE_BUDGET_TIME with ${tally.skippedBudget} keys not started`
      : 'precompute finished',
  );
  return summary;
}

interface RunState {
  night: string;
  deadline: number;
  tally: RunTally;
  runId: string;
}

/**
 * Keeps PRECOMPUTE_CONCURRENCY jobs in flight until every candidate is answered or the deadline
 * passes; returns `time` when it stopped for the deadline.
 */
async function answerAll(
  ctx: JobContext,
  queue: Queue,
  due: Candidate[],
  state: RunState,
): Promise<'time' | null> {
  const { deps, job, signal } = ctx;
  const settings = deps.config.precompute;
  const { tally } = state;
  const inFlight = new Map<string, Candidate>();
  let next = 0;
  let written = Date.now();
  // Jobs started before the deadline may finish after it, within one generation's timeout.
  const waitUntil = state.deadline + (generateQueue.options?.timeoutMs ?? 120_000);
  while (next < due.length || inFlight.size > 0) {
    signal.throwIfAborted();
    const now = Date.now();
    while (next < due.length && inFlight.size < settings.concurrency && now < state.deadline) {
      const candidate = due[next++] as Candidate;
      const id = await enqueue(ctx, candidate, state);
      inFlight.set(id, candidate);
    }
    if (now >= state.deadline && next < due.length) {
      tally.skippedBudget += due.length - next;
      next = due.length;
    }
    if (inFlight.size === 0) break;
    await sleep(POLL_MS, undefined, { signal }).catch(() => {});
    for (const id of [...inFlight.keys()]) {
      const finished = await finishedAnswer(queue, id);
      if (!finished && Date.now() < waitUntil) continue;
      inFlight.delete(id);
      count(tally, finished ?? { status: 'failed', reason: 'did not finish in time' });
    }
    if (Date.now() - written >= PROGRESS_EVERY_MS) {
      written = Date.now();
      await recordProgress(deps.db, state.runId, tally);
      await job.updateProgress({ done: next - inFlight.size, total: due.length });
    }
  }
  return tally.skippedBudget > 0 ? 'time' : null;
}

async function enqueue(ctx: JobContext, candidate: Candidate, state: RunState): Promise<string> {
  const { deps } = ctx;
  const settings = deps.config.precompute;
  const id = precomputeJobId(state.night, candidate.keys.namespace, candidate.cacheKey);
  // The request as its users asked it, minus what belongs to one caller.
  const { webhookUrl: _webhook, metadata: _metadata, ...request } = candidate.payload;
  await deps.enqueue(
    generateQueue,
    {
      ...request,
      userId: 'lowburn-precompute',
      cacheScope: candidate.scope,
      precompute: {
        run: state.runId,
        allowFrontier: settings.allowFrontier && state.tally.costUsd < settings.budgetUsd,
      },
    },
    { jobId: id, priority: PRECOMPUTE_PRIORITY, attempts: 1 },
  );
  return id;
}

/** The job's answer once it finished; a job that failed (a store outage) counts as failed. */
async function finishedAnswer(queue: Queue, id: string): Promise<PrecomputeAnswer | undefined> {
  const job = await Job.fromId(queue, id);
  if (!job) return { status: 'failed', reason: `job ${id} was removed before it finished` };
  if (job.failedReason && job.finishedOn) return { status: 'failed', reason: job.failedReason };
  if (!job.finishedOn) return undefined;
  return job.returnvalue as PrecomputeAnswer;
}

function count(tally: RunTally, answer: PrecomputeAnswer): void {
  if (answer.status === 'invalid') tally.invalid++;
  else if (answer.status === 'failed') tally.failed++;
  else {
    if (answer.route === 'frontier') tally.generatedFrontier++;
    else tally.generatedLocal++;
    tally.tokensIn += answer.tokensIn;
    tally.tokensOut += answer.tokensOut;
    tally.costUsd += answer.costUsd;
  }
}
