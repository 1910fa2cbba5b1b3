// The day's load generator as its own process (`node bench/day/client.ts`), so its CPU and event
// loop are apart from the fleet's and the bench's. Options come as JSON in DAY_CLIENT (see
// ClientOptions, plus `out`: where to write the result). It builds its workload, prints
// `start <epoch ms>` (the run's simulated 0, 1 s ahead), runs the day, writes the result as JSON
// to `out` and prints `done`.

import { writeFile } from 'node:fs/promises';
import { type ClientOptions, prepareClient } from './client-run.ts';

const options = JSON.parse(process.env.DAY_CLIENT ?? '') as ClientOptions & { out: string };
for (const field of ['api', 'apiKey', 'users', 'seed', 'days', 'compression', 'out'] as const) {
  if (options[field] === undefined) throw new Error(`DAY_CLIENT needs "${field}"`);
}
const run = prepareClient(options);
const origin = performance.now() + 1_000;
const originEpochMs = Date.now() + 1_000;
process.stdout.write(`start ${originEpochMs}\n`);
const result = await run(origin, originEpochMs);
await writeFile(options.out, JSON.stringify(result));
process.stdout.write('done\n');
