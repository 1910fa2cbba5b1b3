// npm run bench:day:sizing -- bench/results/day-<stamp>.json — the sizing table of a saved
// simulated day, priced with `COSTS` when set (the operator's price sheet), else the default.

import { readFile } from 'node:fs/promises';
import { costsSchema } from '../../shared/config/costs-config.ts';
import { type SavedDay, sizingSection } from './sizing.ts';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: npm run bench:day:sizing -- bench/results/day-<stamp>.json\n');
  process.exit(2);
}
const day = JSON.parse(await readFile(file, 'utf8')) as SavedDay;
const prices = costsSchema.parse(process.env.COSTS ? JSON.parse(process.env.COSTS) : {});
const { section, markdown } = sizingSection(day, prices);
for (const [k, v] of section[1]) process.stderr.write(`${k}: ${v}\n`);
console.log(markdown);
