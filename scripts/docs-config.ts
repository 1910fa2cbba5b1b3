// npm run docs:config — rewrites the README's config table from shared/config/env-spec.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { withEnvTable } from '../shared/config/env-table.ts';

const path = new URL('../README.md', import.meta.url);
writeFileSync(path, withEnvTable(readFileSync(path, 'utf8')));
console.log('README.md config table updated');
