#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { jobs } from '../jobs/index.ts';
import { createDb } from '../shared/db/create-db.ts';
import { migrateDown, migrateUp, migrationStatus } from '../shared/db/migrate.ts';
import { InvalidPayloadError } from '../shared/errors/invalid-payload-error.ts';
import type { AnyJobDefinition } from '../shared/queue/job-definition.ts';
import { Queues } from '../shared/queue/queues.ts';
import { createProducerConnection } from '../shared/redis/connections.ts';
import { startBoard } from './board.ts';
import { bootConfig, exitOnBootError, onShutdownSignal, processLogger } from './process.ts';
import { startWorker } from './worker.ts';

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
    const worker = await startWorker({ config, catalog, log }).catch((e) =>
      exitOnBootError(e, log),
    );
    onShutdownSignal(log, () => worker.stop());
  });

program
  .command('board')
  .description('serve Bull Board (basic auth) on BOARD_PORT')
  .action(async () => {
    const config = bootConfig();
    const log = processLogger(config, 'board');
    const board = await startBoard({ config, catalog, log }).catch((e) => exitOnBootError(e, log));
    onShutdownSignal(log, () => board.stop());
  });

program
  .command('run')
  .description('enqueue a job now and print its id')
  .argument('<job>', `one of: ${Object.keys(catalog).join(', ')}`)
  .option('--payload <json>', 'job payload as JSON', '{}')
  .action(async (name: string, opts: { payload: string }) => {
    const definition = catalog[name];
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

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof InvalidArgumentError || error instanceof InvalidPayloadError) {
    process.stderr.write(`lowburn: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
