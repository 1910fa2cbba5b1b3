import { type Command, Option } from 'commander';
import type { Candidate } from '../jobs/precompute-cache/candidates.ts';
import type { PrecomputePlan } from '../jobs/precompute-cache/plan.ts';
import type { Config } from '../shared/config/load-config.ts';
import { withQueues } from './cli-clients.ts';
import { bootConfig, processLogger } from './process.ts';
import { renderTable } from './text-table.ts';

/**
 * Adds `lowburn precompute`: runs the nightly precompute now, or with `--dry-run` prints the
 * ranked candidates (asks, users, route, miss cost, fresh or not) and what answering them would
 * cost, without generating anything.
 */
export function registerPrecomputeCommand(program: Command): void {
  program
    .command('precompute')
    .description("answer the window's most asked prompts into the cache now (the 3 AM job)")
    .option('--dry-run', 'print the ranked candidates and the estimated cost; generate nothing')
    .addOption(
      new Option('--format <format>', 'dry-run output').choices(['table', 'json']).default('table'),
    )
    .action(async (opts: { dryRun?: boolean; format: 'table' | 'json' }) => {
      if (!opts.dryRun) {
        const { precomputeCacheJob } = await import('../jobs/precompute-cache/index.ts');
        const id = await withQueues(
          async (queues) => (await queues.add(precomputeCacheJob, {})).id,
        );
        console.log(id);
        return;
      }
      const config = bootConfig();
      const plan = await dryRun(config);
      process.stdout.write(
        opts.format === 'json'
          ? `${JSON.stringify({ ...summary(plan, config), candidates: plan.candidates.map(row) }, null, 2)}\n`
          : `${table(plan)}\n\n${sentence(summary(plan, config), config)}\n`,
      );
    });
}

/** The plan, from this machine's view of Postgres, object storage, Redis and the local model. */
async function dryRun(config: Config): Promise<PrecomputePlan> {
  const log = processLogger(config, 'precompute');
  const [
    { planPrecompute },
    { createStorage },
    { createProducerConnection },
    { processGeneration },
  ] = await Promise.all([
    import('../jobs/precompute-cache/plan.ts'),
    import('../shared/storage/create-storage.ts'),
    import('../shared/redis/connections.ts'),
    import('../shared/inference/process-pipeline.ts'),
  ]);
  const storage = await createStorage(config.storage);
  const redis = createProducerConnection(config.redis, { enableOfflineQueue: true });
  const generation = processGeneration(config, redis, log);
  try {
    return await planPrecompute({ config, storage, redis, generation });
  } finally {
    await generation.close();
    await storage.close();
    await redis.quit().catch(() => redis.disconnect());
  }
}

const usd = (n: number) =>
  `$${n < 0.01 && n > 0 ? String(Number(n.toPrecision(2))) : n.toFixed(2)}`;

function row(candidate: Candidate, i: number) {
  return {
    rank: i + 1,
    taskType: candidate.taskType,
    scope: candidate.scope,
    prompt: candidate.template
      ? `template ${candidate.template}`
      : (candidate.payload.prompt ?? candidate.payload.messages?.at(-1)?.content ?? ''),
    asks: candidate.asks,
    users: candidate.users,
    route: candidate.route,
    missCostUsd: candidate.missCostUsd,
    tokens: candidate.tokens,
  };
}

function table(plan: PrecomputePlan): string {
  const rows = plan.candidates.map((c, i) => {
    const r = row(c, i);
    const prompt = r.prompt.replace(/\s+/g, ' ');
    return [
      String(r.rank),
      r.taskType,
      r.scope.slice(0, 12),
      prompt.length > 48 ? `${prompt.slice(0, 47)}…` : prompt,
      String(r.asks),
      c.users >= 100 ? '100+' : String(r.users),
      r.route,
      usd(r.missCostUsd),
      plan.fresh[i] ? 'fresh' : 'due',
    ];
  });
  return renderTable([
    ['#', 'task', 'scope', 'prompt', 'asks', 'users', 'route', 'miss', 'state'],
    ...rows,
  ]);
}

/** What the run would do and cost: local answers cost nothing; the paid model only if allowed. */
function summary(plan: PrecomputePlan, config: Config) {
  const price = config.inference.frontier
    ? config.inference.prices[config.inference.frontier.model]
    : undefined;
  // Worst case: every local answer fails and the paid model answers, up to the budget.
  const worst = price
    ? plan.due.reduce((n, c) => n + (c.tokens * (price.input + price.output)) / 2 / 1e6, 0)
    : 0;
  const frontierUsd = config.precompute.allowFrontier
    ? Math.min(worst, config.precompute.budgetUsd)
    : 0;
  return {
    from: plan.from.toISOString(),
    to: plan.to.toISOString(),
    rows: plan.rows,
    coldRows: plan.coldRows,
    candidates: plan.candidates.length,
    fresh: plan.candidates.length - plan.due.length,
    due: plan.due.length,
    estimatedTokens: plan.due.reduce((n, c) => n + c.tokens, 0),
    estimatedCostUsd: { local: 0, frontierAtMost: frontierUsd },
  };
}

function sentence(s: ReturnType<typeof summary>, config: Config): string {
  return [
    `${s.candidates} candidates from ${s.rows} asks (${s.coldRows} from cold storage) between ${s.from} and ${s.to}.`,
    `${s.fresh} still fresh; ${s.due} to answer, about ${s.estimatedTokens} tokens on the local model ($0).`,
    config.precompute.allowFrontier
      ? `If every local answer failed, the paid model would cost at most ${usd(s.estimatedCostUsd.frontierAtMost)} (PRECOMPUTE_BUDGET_USD ${usd(config.precompute.budgetUsd)}).`
      : 'The paid model is not used (PRECOMPUTE_ALLOW_FRONTIER=false).',
  ].join('\n');
}
