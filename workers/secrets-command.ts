import { type Command, InvalidArgumentError } from 'commander';
import type { RotationReport } from '../shared/api-keys/rotate-webhook-secrets.ts';
import { withDb } from './cli-clients.ts';
import { processKeyring } from './process.ts';

/**
 * Adds `lowburn secrets rotate`: re-encrypts every stored webhook secret under `SECRETS_KEY`,
 * opening the old ones with `SECRETS_KEY_PREVIOUS`. Exits 1 when a secret could not be opened
 * (it is listed, and left as it was).
 */
export function registerSecretsCommand(program: Command): void {
  const secrets = program
    .command('secrets')
    .description('manage the encryption of stored secrets (SECRETS_KEY)');

  secrets
    .command('rotate')
    .description(
      're-encrypt every webhook secret under SECRETS_KEY (old ones open with SECRETS_KEY_PREVIOUS)',
    )
    .option('--batch-size <n>', 'rows per statement', parseBatchSize, 500)
    .option('--json', 'print one JSON object, for scripts')
    .action(async (opts: { batchSize: number; json?: boolean }) => {
      const report = await withDb(
        'secrets',
        async (db, { config, log }) => {
          const { rotateWebhookSecrets } = await import(
            '../shared/api-keys/rotate-webhook-secrets.ts'
          );
          return rotateWebhookSecrets(db, processKeyring(config, log), {
            batchSize: opts.batchSize,
          });
        },
        'secrets rotate',
      );
      console.log(opts.json ? JSON.stringify(report) : describeRotation(report));
      if (report.unopenable.length > 0) process.exitCode = 1;
    });
}

function parseBatchSize(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) {
    throw new InvalidArgumentError('--batch-size must be a whole number from 1 to 10000');
  }
  return n;
}

function describeRotation(report: RotationReport): string {
  const lines = [
    `re-encrypted ${report.rotated} webhook secret(s) under SECRETS_KEY (key id ${report.keyId}); ${report.current} already were`,
  ];
  if (report.unopenable.length > 0) {
    lines.push(
      `${report.unopenable.length} could not be opened and were left as they are:`,
      ...report.unopenable.map((u) => `  ${u.apiKeyId}: ${u.error}`),
    );
  } else {
    lines.push(
      'every webhook secret is sealed under SECRETS_KEY: SECRETS_KEY_PREVIOUS can be unset',
    );
  }
  return lines.join('\n');
}
