#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { jobs, queues } from '../jobs/index.ts';
import { InvalidPayloadError } from '../shared/errors/invalid-payload-error.ts';
import type { AnyJobDefinition } from '../shared/queue/job-definition.ts';
import { registerCoolifyCommand } from './coolify.ts';
import { registerKeysCommand } from './keys-command.ts';
import { bootConfig, exitOnBootError, onShutdownSignal, processLogger } from './process.ts';

// Each command imports what it runs when it runs: a worker never loads Bull Board's UI, and
// the board never loads a worker's clients (RSS per process is part of the budget).
const catalog: Record<string, AnyJobDefinition> = jobs;
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
    try {
      if (direction === 'status') {
        for (const m of await migrationStatus(db)) {
          console.log(
            `${m.executedAt ? m.executedAt.toISOString() : 'pending                 '}  ${m.name}`,
          );
        }
      } else {
        const names =
          direction === 'up' ? await migrateUp(db) : await migrateDown(db, { all: opts.all });
        console.log(
          names.length === 0
            ? 'nothing to do'
            : `${direction === 'up' ? 'applied' : 'reverted'}: ${names.join(', ')}`,
        );
      }
    } finally {
      await db.destroy();
    }
  });

program
  .command('worker')
  .description('run the queues in WORKER_QUEUES; drains on SIGTERM')
  .action(async () => {
    const config = bootConfig();
    const log = processLogger(config, 'worker');
    const { startWorker } = await import('./worker.ts');
    const worker = await startWorker({ config, catalog, log }).catch((e) =>
      exitOnBootError(e, log),
    );
    onShutdownSignal(log, () => worker.stop());
  });

program
  .command('api')
  .description('serve the thin HTTP API on API_PORT')
  .action(async () => {
    const config = bootConfig();
    const log = processLogger(config, 'api');
    const { startApi } = await import('./api.ts');
    const api = await startApi({ config, log }).catch((e) => exitOnBootError(e, log));
    onShutdownSignal(log, () => api.stop());
  });

program
  .command('board')
  .description('serve Bull Board (basic auth) on BOARD_PORT')
  .action(async () => {
    const config = bootConfig();
    const log = processLogger(config, 'board');
    const { startBoard } = await import('./board.ts');
    const board = await startBoard({ config, catalog: queues, log }).catch((e) =>
      exitOnBootError(e, log),
    );
    onShutdownSignal(log, () => board.stop());
  });

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
    const config = bootConfig();
    const { createProducerConnection } = await import('../shared/redis/connections.ts');
    const { Queues } = await import('../shared/queue/queues.ts');
    const connection = createProducerConnection(config.redis.url, { enableOfflineQueue: true });
    const queues = new Queues({ connection, prefix: config.queuePrefix });
    try {
      const job = await queues.add(definition, payload);
      console.log(job.id);
    } finally {
      await queues.close();
      await connection.quit().catch(() => connection.disconnect());
    }
  });

registerCoolifyCommand(program);
registerKeysCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof InvalidArgumentError || error instanceof InvalidPayloadError) {
    process.stderr.write(`lowburn: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
