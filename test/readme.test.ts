import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderEnvTable } from '../shared/config/env-table.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the README', () => {
  it('documents every environment variable exactly as the config schema parses it', () => {
    // Out of date? Run `npm run docs:config`.
    expect(readme).toContain(renderEnvTable());
  });

  it('has the two-command quick start', () => {
    expect(readme).toContain('docker compose up');
    expect(readme).toContain('npm install-test');
  });
});
