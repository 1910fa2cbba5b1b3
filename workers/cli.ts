#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { jobs, queues } from '../jobs/index.ts';
import type { Config } from '../shared/config/load-config.ts';
import { ConfigError } from '../shared/errors/config-error.ts';
import { InvalidPayloadError } from '../shared/errors/invalid-payload-error.ts';
import type { Logger } from '../shared/log/logger.ts';
import type { AnyJobDefinition } from '../shared/queue/job-definition.ts';
import { registerCacheCommand } from './cache-command.ts';
import { withQueues } from './cli-clients.ts';
import { registerCoolifyCommand } from './coolify.ts';
import { registerFinetuneCommand } from './finetune-command.ts';
import { registerKeysCommand } from './keys-command.ts';
import { registerPrecomputeCommand } from './precompute-command.ts';
import {
  bootConfig,
  exitOnBootError,
  onShutdownSignal,
  processKeyring,
  processLogger,
} from './process.ts';
import { registerQueryCommand } from './query-command.ts';
import { registerSecretsCommand } from './secrets-command.ts';
import { registerUsageCommand } from './usage-command.ts';
import { registerUsersCommand } from './users-command.ts';
import { registerWebhooksCommand } from './webhooks-command.ts';

// Each command imports what it runs when it runs: a worker never loads Bull Board's UI, and
// the board never loads a worker's clients (RSS per process is part of the budget).
const catalog: Record<string, AnyJobDefinition> = jobs;

/** Boots a long-running process from the config and runs its `stop` on SIGTERM/SIGINT. */
async function serve(
  name: 'api' | 'worker' | 'board',
  start: (config: Config, log: Logger) => Promise<{ stop(): Promise<unknown> }>,
): Promise<void> {
  const config = bootConfig(name);
  const log = processLogger(config, name);
  const running = await start(config, log).catch((error) => exitOnBootError(error, log));
  onShutdownSignal(log, () => running.stop());
}
const program = new Command('lowburn')
  .description('lowburn: the background fleet of a low-burn SaaS')
  .showHelpAfterError();

program
  .command('migrate')
  .description('apply, revert or list database migrations')
  .argument('[direction]', 'up | down | status', 'up')
  .option('--all', 'with down: revert every migration')
  .action(async (direction: string, opts: { all?: boolean }) => {
    if (!['up', 'down', 'status'].includes(direction)) {
      throw new InvalidArgumentError(`"${direction}" is not one of up, down, status`);
    }
    const config = bootConfig();
    const log = processLogger(config, 'migrate');
    const { createDb } = await import('../shared/db/create-db.ts');
    const { migrateDown, migrateUp, migrationStatus } = await import('../shared/db/migrate.ts');
    const { db } = createDb({ url: config.database.url, poolMax: 1, log });
    // SECRETS_KEY is needed only when there are secrets to seal or open; the migration says so.
    const keyring = config.secrets.key ? processKeyring(config, log) : undefined;
    try {
      if (direction === 'status') {
        for (const m of await migrationStatus(db)) {
          console.log(
            `${m.executedAt ? m.executedAt.toISOString() : 'pending                 '}  ${m.name}`,
          );
        }
      } else {
        const names =
          direction === 'up'
            ? await migrateUp(db, { keyring })
            : await migrateDown(db, { all: opts.all, keyring });
        console.log(
          names.length === 0
            ? 'nothing to do'
            : `${direction === 'up' ? 'applied' : 'reverted'}: ${names.join(', ')}`,
        );
      }
    } catch (error) {
      // A migration that needs SECRETS_KEY: the operator's fix, not a crash (exits 78).
      if (error instanceof Error && error.cause instanceof ConfigError) {
        exitOnBootError(error.cause, log);
      }
      throw error;
    } finally {
      await db.destroy();
    }
  });

program
  .command('worker')
  .description('run the queues in WORKER_QUEUES; drains on SIGTERM')
  .action(() =>
    serve('worker', async (config, log) => {
      const { startWorker } = await import('./worker.ts');
      return startWorker({ config, catalog, log });
    }),
  );

program
  .command('api')
  .description('serve the thin HTTP API on API_PORT')
  .action(() =>
    serve('api', async (config, log) => {
      const { startApi } = await import('./api.ts');
      return startApi({ config, log });
    }),
  );

program
  .command('board')
  .description('serve Bull Board on BOARD_PORT behind the operator and viewer logins')
  .action(() =>
    serve('board', async (config, log) => {
      const { startBoard } = await import('./board.ts');
      return startBoard({ config, catalog: queues, log });
    }),
  );

program
  .command('run')
  .description('enqueue a job now and print its id')
  .argument('<job>', `one of: ${Object.keys(catalog).join(', ')}`)
  .option('--payload <json>', 'job payload as JSON', '{}')
  .action(async (name: string, opts: { payload: string }) => {
    const definition = Object.hasOwn(catalog, name) ? catalog[name] : undefined;
    if (!definition) {
      throw new InvalidArgumentError(
        `unknown job "${name}"; known: ${Object.keys(catalog).join(', ')}`,
      );
    }
    let payload: unknown;
    try {
      payload = JSON.parse(opts.payload);
    } catch (error) {
      throw new InvalidArgumentError(`--payload is not valid JSON: ${(error as Error).message}`);
    }
    const id = await withQueues(async (queues) => (await queues.add(definition, payload)).id);
    console.log(id);
  });

registerCoolifyCommand(program);
registerKeysCommand(program);
registerWebhooksCommand(program);
registerQueryCommand(program);
registerPrecomputeCommand(program);
registerSecretsCommand(program);
registerCacheCommand(program);
registerFinetuneCommand(program);
registerUsageCommand(program);
registerUsersCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof InvalidArgumentError || error instanceof InvalidPayloadError) {
    process.stderr.write(`lowburn: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
