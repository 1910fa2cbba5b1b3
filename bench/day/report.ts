// The day's report: a table on stderr, the full report as JSON and Markdown under bench/results/
// (git-ignored), and the JSON line last on stdout.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { round } from '../support.ts';

export interface DayReport {
  line: Record<string, unknown>;
  /** Sections of the table: a title and its rows. */
  sections: [string, [string, string | number][]][];
  full: Record<string, unknown>;
}

const RESULTS = path.resolve(import.meta.dirname, '../results');

const markdown = (report: DayReport) =>
  [
    `# bench:day, ${new Date().toISOString()}`,
    '',
    ...report.sections.flatMap(([title, rows]) => [
      `## ${title}`,
      '',
      '| figure | value |',
      '| --- | --- |',
      ...rows.map(([k, v]) => `| ${k} | ${v} |`),
      '',
    ]),
    '```json',
    JSON.stringify(report.line),
    '```',
    '',
  ].join('\n');

/** Prints the table, writes the files, prints the JSON line last. */
export async function publish(report: DayReport): Promise<string> {
  for (const [title, rows] of report.sections) {
    process.stderr.write(`\n${title}\n`);
    const width = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) process.stderr.write(`  ${k.padEnd(width)}  ${v}\n`);
  }
  await mkdir(RESULTS, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const base = path.join(RESULTS, `day-${stamp}`);
  await writeFile(`${base}.json`, JSON.stringify({ ...report.full, line: report.line }, null, 2));
  await writeFile(`${base}.md`, markdown(report));
  process.stderr.write(`\nwritten: ${base}.json, ${base}.md\n`);
  console.log(JSON.stringify(report.line));
  return base;
}

/** A share as a percentage with two decimals, for the table. */
export const pct = (share: number) => `${round(share * 100, 2)} %`;
