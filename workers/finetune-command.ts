import { type Command, InvalidArgumentError } from 'commander';
import type {
  ModelVersion,
  RetrainReport,
  SideFigures,
} from '../shared/generation/retrain-report.ts';
import { withDb } from './cli-clients.ts';
import { registerFinetuneExport } from './finetune-export-command.ts';
import { renderTable } from './text-table.ts';

/**
 * Adds `lowburn finetune`, the retrain loop's commands: `export` (the training files) and
 * `report` (whether a retrain paid).
 */
export function registerFinetuneCommand(program: Command): void {
  const finetune = program
    .command('finetune')
    .description('the retrain loop: fine-tune data and whether a retrain paid');
  registerReport(finetune);
  registerFinetuneExport(finetune);
}

function registerReport(finetune: Command): void {
  finetune
    .command('report')
    .description(
      'per task type, the fallback share and the shadow agreement in the 7 days before and after the latest local model version change',
    )
    .option('--at <time>', 'compare around this time instead (ISO 8601)', parseTime)
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { at?: Date; json?: boolean }) => {
      const [{ retrainReport, NoModelVersionError }, { createStorage }] = await Promise.all([
        import('../shared/generation/retrain-report.ts'),
        import('../shared/storage/create-storage.ts'),
      ]);
      await withDb('finetune-report', async (db, { config }) => {
        const storage = await createStorage(config.storage);
        try {
          const report = await retrainReport({
            db,
            databaseUrl: config.database.url,
            storage,
            cacheDir: config.cold.cacheDir,
            duckdb: config.cold.duckdb,
            ...(opts.at && { at: opts.at }),
          });
          process.stdout.write(
            opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${reportText(report)}\n`,
          );
        } catch (error) {
          if (!(error instanceof NoModelVersionError)) throw error;
          process.stderr.write(`lowburn finetune report: ${error.message}\n`);
          process.exitCode = 1;
        } finally {
          await storage.close();
        }
      });
    });
}

function parseTime(value: string): Date {
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) {
    throw new InvalidArgumentError('must be a time like 2026-11-20T12:00:00Z');
  }
  return at;
}

const percent = (share: number | null) => (share === null ? '–' : `${(share * 100).toFixed(1)}%`);
const of = (side: SideFigures, part: 'fallbacks' | 'agreed') =>
  part === 'fallbacks'
    ? `${percent(side.fallbackShare)} (${side.fallbacks}/${side.answered})`
    : `${percent(side.agreement)} (${side.agreed}/${side.comparisons})`;

const named = (v: ModelVersion) => `${v.localModel}@${v.version} ${v.digest.slice(0, 12)}`;

/** The report as a table with a heading naming the change and the two windows. */
export function reportText(report: RetrainReport): string {
  const { version } = report;
  const change = version
    ? `${named(version)} first seen ${report.at.toISOString()}${version.previous ? ` (before it: ${named(version.previous)})` : ''}`
    : report.at.toISOString();
  const heading = `Around ${change}: 7 days before (from ${report.before.from.toISOString()}) and after (to ${report.after.to.toISOString()})`;
  if (report.tasks.length === 0)
    return `${heading}\n\nNo generations or shadow comparisons in those 14 days.`;
  const rows = report.tasks.map((t) => [
    t.taskType,
    of(t.before, 'fallbacks'),
    of(t.after, 'fallbacks'),
    of(t.before, 'agreed'),
    of(t.after, 'agreed'),
  ]);
  return `${heading}\n\n${renderTable([
    ['task', 'fallback before', 'fallback after', 'agreement before', 'agreement after'],
    ...rows,
  ])}`;
}
