// The day's load generator as its own process (`node bench/day/client.ts`), so its CPU and event
// loop are apart from the fleet's and the bench's. Options come as JSON in DAY_CLIENT (see
// ClientOptions, plus `out`: where to write the result, and `startAt`: the run's real start, the
// epoch ms the fleet's clock maps to the day's 00:00). It builds its workload, waits for
// `startAt`, prints `start <epoch ms>`, runs the day, writes the result as JSON to `out` and
// prints `done`.

import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientOptions, prepareClient } from './client-run.ts';

const options = JSON.parse(process.env.DAY_CLIENT ?? '') as ClientOptions & {
  out: string;
  startAt: number;
};
const fields = ['api', 'apiKey', 'users', 'seed', 'days', 'compression', 'out', 'startAt'] as const;
for (const field of fields) {
  if (options[field] === undefined) throw new Error(`DAY_CLIENT needs "${field}"`);
}
const run = prepareClient(options);
const originEpochMs = options.startAt;
const ahead = originEpochMs - Date.now();
if (ahead < 0) {
  throw new Error(
    `the client was ready ${-ahead} ms after the run's start (startAt): the bench must give it more time`,
  );
}
await sleep(ahead);
const origin = performance.now() - (Date.now() - originEpochMs);
process.stdout.write(`start ${originEpochMs}\n`);
const result = await run(origin, originEpochMs);
await writeFile(options.out, JSON.stringify(result));
process.stdout.write('done\n');
