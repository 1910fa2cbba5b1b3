import { type Command, InvalidArgumentError } from 'commander';
import { parseDuration } from '../shared/config/duration.ts';
import type { DeliveryStatus } from '../shared/db/database.ts';
import { type DeliverySummary, deliveryStatuses } from '../shared/webhooks/list-deliveries.ts';
import type { ReplayedDelivery } from '../shared/webhooks/replay.ts';
import { withDb } from './cli-clients.ts';

/**
 * Adds `lowburn webhooks list | replay`: the dead-letter side of webhook delivery. A replay
 * sends the same event with the same `webhook-id` (receivers deduplicate on it), on a fresh
 * retry schedule.
 */
export function registerWebhooksCommand(program: Command): void {
  const webhooks = program
    .command('webhooks')
    .description('list webhook deliveries and replay them (same webhook-id)');

  webhooks
    .command('list')
    .description('list deliveries, newest first')
    .option('--status <status>', `one of: ${deliveryStatuses.join(', ')}`, parseStatus)
    .option(
      '--since <time>',
      'created at or after: an ISO time, or a duration ago (24h, 7d)',
      (text: string) => parseSince(text),
    )
    .option('--limit <n>', 'at most this many', parseLimit, 100)
    .option('--json', 'print a JSON array, for scripts')
    .action(
      async (opts: { status?: DeliveryStatus; since?: Date; limit: number; json?: boolean }) => {
        const list = await withDb('webhooks', async (db) => {
          const { listDeliveries } = await import('../shared/webhooks/list-deliveries.ts');
          return listDeliveries(db, opts);
        });
        console.log(opts.json ? JSON.stringify(list) : renderTable(list));
      },
    );

  webhooks
    .command('replay')
    .description('send deliveries again with the same webhook-id: one by id, or all that match')
    .argument('[id]', 'a delivery id (msg_…), as listed')
    .option(
      '--since <time>',
      'created at or after: an ISO time, or a duration ago (24h, 7d)',
      (text: string) => parseSince(text),
    )
    .option('--status <status>', 'with --since: the status to replay', parseStatus)
    .action(async (id: string | undefined, opts: { since?: Date; status?: DeliveryStatus }) => {
      if (id !== undefined && (opts.since || opts.status)) {
        throw new InvalidArgumentError('give a delivery id, or --since/--status, not both');
      }
      if (id === undefined && !opts.since && !opts.status) {
        throw new InvalidArgumentError(
          'give a delivery id, or --since <time> [--status dead] to replay many',
        );
      }
      const count = await withDb('webhooks', async (db) => {
        const deps = { db };
        const { replayDeliveries, replayMatching } = await import('../shared/webhooks/replay.ts');
        if (id !== undefined) {
          const replayed = await replayDeliveries(deps, [id]);
          replayed.forEach(report);
          return replayed.length;
        }
        const filter = { status: opts.status ?? 'dead', since: opts.since ?? new Date(0) };
        return replayMatching(deps, filter, (page) => page.forEach(report));
      });
      if (id !== undefined && count === 0) {
        process.stderr.write(`lowburn: no webhook delivery "${id}"\n`);
        process.exitCode = 1;
      } else if (id === undefined) {
        console.log(`replayed ${count} deliver${count === 1 ? 'y' : 'ies'}`);
      }
    });
}

function report(replayed: ReplayedDelivery): void {
  console.log(`replayed ${replayed.id} (was ${replayed.previousStatus}), run ${replayed.run}`);
}

function parseStatus(text: string): DeliveryStatus {
  const status = deliveryStatuses.find((s) => s === text);
  if (!status) {
    throw new InvalidArgumentError(`"${text}" is not one of ${deliveryStatuses.join(', ')}`);
  }
  return status;
}

/** An ISO date or time, or a duration with a unit (`90m`, `24h`, `7d`) meaning that long ago. */
export function parseSince(text: string, now = Date.now()): Date {
  const ago = /[a-z]$/i.test(text.trim()) ? parseDuration(text) : undefined;
  if (ago !== undefined) return new Date(now - ago);
  const at = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new InvalidArgumentError(
      `"${text}" is not a time: use an ISO time (2026-01-31T12:00:00Z) or a duration ago (24h)`,
    );
  }
  return new Date(at);
}

function parseLimit(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) {
    throw new InvalidArgumentError(`"${text}" is not a whole number from 1 to 10000`);
  }
  return n;
}

function renderTable(list: DeliverySummary[]): string {
  if (list.length === 0) return 'no webhook deliveries match';
  const time = (d: Date | null) => (d ? d.toISOString().slice(0, 19).replace('T', ' ') : '-');
  const rows = [
    ['ID', 'STATUS', 'EVENT', 'ATTEMPTS', 'LAST', 'CREATED (UTC)', 'NEXT ATTEMPT', 'URL'],
    ...list.map((d) => [
      d.id,
      d.status,
      d.eventType,
      String(d.attempts),
      d.lastStatusCode === null ? (d.lastError ? 'error' : '-') : String(d.lastStatusCode),
      time(d.createdAt),
      time(d.nextAttemptAt),
      d.url,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
