import { userInfo } from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import { erasureDeviceIds, erasureUserId } from '../shared/erasures/request-schema.ts';
import type { VerifyReport } from '../shared/erasures/verify.ts';
import { withDb } from './cli-clients.ts';

interface EraseOptions {
  devices?: string;
  dryRun?: boolean;
  verify?: string;
  user?: string;
  json?: boolean;
  applyNow?: boolean;
}

/**
 * Adds `lowburn users erase`: records an erasure per user and enqueues its `erase-user` job
 * (`--dry-run`: counts what would go), or with `--verify <erasure-id>` re-reads every hot table
 * and the caches and reports what of the user remains.
 */
export function registerUsersCommand(program: Command): void {
  const users = program.command('users').description("erase a user's data");
  users
    .command('erase')
    .description(
      "erase users' data: hot rows, webhook payloads, idempotency records and caches at once; cold files later",
    )
    .argument('[userIds...]', 'the users to erase')
    .option('--devices <ids>', 'comma-separated devices whose telemetry goes too, whoever it names')
    .option('--dry-run', 'count what would be erased; record and remove nothing')
    .option('--verify <erasure-id>', "report what of an erasure's user remains (zero, or where)")
    .option('--user <userId>', 'with --verify, for a done erasure: the user it erased')
    .option(
      '--apply-now',
      'rewrite the cold files and fine-tune sets as soon as the hot side is done, not at ERASE_CRON (alone: for every erasure waiting)',
    )
    .option('--json', 'print JSON, for scripts')
    .action(async (userIds: string[], opts: EraseOptions) => {
      if (opts.verify !== undefined) {
        const report = await verify(opts.verify, opts.user);
        console.log(opts.json ? JSON.stringify(report) : describeReport(report));
        if (!report.clean) process.exitCode = 1;
        return;
      }
      if (opts.applyNow && userIds.length === 0 && !opts.dryRun) {
        const { enqueueApplyErasures } = await import('./erasure-enqueue.ts');
        const jobId = await enqueueApplyErasures();
        console.log(opts.json ? JSON.stringify({ jobId }) : `apply-erasures queued: job ${jobId}`);
        return;
      }
      // Checked before connecting, so a typo fails fast with exit code 2.
      const subjects = parseSubjects(userIds, opts.devices);
      if (opts.dryRun) {
        const previews = await preview(subjects.userIds, subjects.deviceIds);
        console.log(
          opts.json ? JSON.stringify(previews) : previews.map(describePreview).join('\n'),
        );
        return;
      }
      const recorded = await erase(subjects.userIds, subjects.deviceIds, opts.applyNow === true);
      console.log(
        opts.json
          ? JSON.stringify(recorded)
          : recorded
              .map(
                (r) =>
                  `${r.userId}: erasure ${r.id} ${r.status}${r.created ? '' : ' (already requested: the same erasure)'}; job ${r.jobId}${opts.applyNow ? ' (then apply-erasures)' : ''}`,
              )
              .join('\n'),
      );
    });
}

/** The arguments checked: at least one user id, devices only with one user. */
export function parseSubjects(
  userIds: readonly string[],
  devices: string | undefined,
): { userIds: string[]; deviceIds: string[] } {
  if (userIds.length === 0) {
    throw new InvalidArgumentError(
      'name at least one user id (or --verify <erasure-id>, or --apply-now alone)',
    );
  }
  for (const id of userIds) {
    const parsed = erasureUserId.safeParse(id);
    if (!parsed.success) {
      throw new InvalidArgumentError(`"${id}" ${parsed.error.issues[0]?.message}`);
    }
  }
  const deviceIds = devices === undefined ? [] : devices.split(',').map((d) => d.trim());
  const parsed = erasureDeviceIds.safeParse(deviceIds);
  if (!parsed.success || deviceIds.some((d) => d === '')) {
    throw new InvalidArgumentError(
      '--devices must be comma-separated device ids, like tablet-1,kiosk-7',
    );
  }
  const unique = [...new Set(userIds)];
  if (deviceIds.length > 0 && unique.length > 1) {
    throw new InvalidArgumentError(
      '--devices belongs to one user: erase one user at a time with it',
    );
  }
  return { userIds: unique, deviceIds };
}

async function preview(userIds: string[], deviceIds: string[]) {
  return withDb('users', async (db) => {
    const { previewErasure } = await import('../shared/erasures/preview.ts');
    const out = [];
    for (const userId of userIds) out.push(await previewErasure(db, { userId, deviceIds }));
    return out;
  });
}

async function erase(userIds: string[], deviceIds: string[], applyNow: boolean) {
  return withDb('users', async (db, { config }) => {
    const secretsKey = requireSecretsKey(config.secrets.key);
    const { requestErasure } = await import('../shared/erasures/ledger.ts');
    const { enqueueErasure } = await import('./erasure-enqueue.ts');
    const requestedBy = `cli:${userInfo().username}`;
    const recorded = [];
    for (const userId of userIds) {
      const erasure = await requestErasure(db, { userId, deviceIds, requestedBy, secretsKey });
      const jobId = await enqueueErasure(config, erasure.id, deviceIds.length, applyNow);
      recorded.push({ userId, ...erasure, jobId });
    }
    return recorded;
  });
}

async function verify(erasureId: string, userId: string | undefined): Promise<VerifyReport> {
  return withDb('users', async (db, { config }) => {
    const secretsKey = requireSecretsKey(config.secrets.key);
    const { findErasure } = await import('../shared/erasures/ledger.ts');
    const [
      { verifyErasure },
      { hotChecks },
      { coldFilesCheck },
      { finetuneSetsCheck },
      { createStorage },
    ] = await Promise.all([
      import('../shared/erasures/verify.ts'),
      import('../shared/erasures/hot-checks.ts'),
      import('../shared/erasures/cold-check.ts'),
      import('../shared/erasures/finetune-check.ts'),
      import('../shared/storage/create-storage.ts'),
    ]);
    const erasure = await findErasure(db, erasureId);
    if (!erasure) throw new InvalidArgumentError(`no erasure "${erasureId}"`);
    const { createProducerConnection } = await import('../shared/redis/connections.ts');
    const redis = createProducerConnection(config.redis, {
      enableOfflineQueue: true,
      connectionName: 'lowburn-cli',
    });
    const storage = await createStorage(config.storage);
    const checks = [
      ...hotChecks,
      coldFilesCheck({ storage, duckdb: config.cold.duckdb, cacheDir: config.cold.cacheDir }),
      finetuneSetsCheck(storage),
    ];
    try {
      return await verifyErasure(
        { db, redis, prefix: config.queuePrefix, secretsKey },
        erasure,
        userId === undefined ? { checks } : { checks, userId },
      );
    } finally {
      await redis.quit().catch(() => redis.disconnect());
    }
  });
}

function requireSecretsKey(key: Buffer | undefined): Buffer {
  if (key) return key;
  throw new InvalidArgumentError(
    'erasures need SECRETS_KEY (the ledger keeps a keyed hash of the user id): set it as the workers have it',
  );
}

function describePreview(p: Awaited<ReturnType<typeof preview>>[number]): string {
  const rows = Object.entries(p.rows)
    .map(([table, n]) => `${table} ${n}`)
    .join(', ');
  return `${p.userId} (dry run, nothing recorded): ${rows}; usage_daily ${p.usageRows} (folded); webhook payloads ${p.webhookPayloads}; idempotency records ${p.idempotencyKeys}; shadow comparisons ${p.shadowComparisons}`;
}

export function describeReport(report: VerifyReport): string {
  const lines = [
    `erasure ${report.erasureId} (${report.status}): checked ${report.checked.join(', ')}`,
  ];
  for (const s of report.skipped) lines.push(`  skipped ${s.check}: ${s.reason}`);
  for (const r of report.remaining) {
    lines.push(`  ${r.rows} left in ${r.place}${r.note ? ` — ${r.note}` : ''}`);
  }
  lines.push(report.clean ? 'clean: zero rows left' : 'NOT clean: see above');
  return lines.join('\n');
}
