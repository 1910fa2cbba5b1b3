import { describe, expect, it } from 'vitest';
import { listApiKeys, verifyApiKey } from '../shared/api-keys/index.ts';
import { testEnv } from '../test/fixtures/config.ts';
import { useTestDatabase } from '../test/fixtures/postgres.ts';
import { spawnNode } from '../test/fixtures/processes.ts';

const KEY = /lb_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}/;

describe('lowburn keys', () => {
  const database = useTestDatabase();

  async function keys(...args: string[]) {
    const cli = spawnNode(`lowburn keys ${args[0]}`, 'workers/cli.ts', ['keys', ...args], {
      ...testEnv({ DATABASE_URL: database.url }),
    });
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  }

  it('creates a key and prints it and its webhook secret once, labelled, with a warning', async () => {
    const { code, output } = await keys('create', '--name', 'my-app', '--scopes', 'generate,read');
    expect(code).toBe(0);
    const key = KEY.exec(output)?.[0] ?? '';
    expect(output).toContain(`API key:         ${key}`);
    expect(output).toMatch(/Webhook secret: {2}whsec_[A-Za-z0-9+/]{43}=\n/);
    expect(output).toContain('they are NOT shown again');
    expect(await verifyApiKey(database.db, key)).toMatchObject({
      name: 'my-app',
      scopes: ['generate', 'read'],
    });
  });

  it('prints one JSON object with --json, for scripts', async () => {
    const { code, output } = await keys(
      'create',
      '--name',
      'ci',
      '--scopes',
      'telemetry',
      '--json',
    );
    expect(code).toBe(0);
    const created = JSON.parse(output);
    expect(created).toEqual({
      id: expect.any(String),
      name: 'ci',
      scopes: ['telemetry'],
      prefix: created.key.slice(0, 11),
      cacheScope: created.id,
      dailyBudgetUsd: null,
      dailyBudgetUsdHard: null,
      key: expect.stringMatching(KEY),
      webhookSecret: expect.stringMatching(/^whsec_/),
      createdAt: expect.any(String),
    });
    expect(await verifyApiKey(database.db, created.key)).toMatchObject({ id: created.id });
  });

  it('creates a key sharing a named cache scope, and refuses a scope name it cannot use', async () => {
    const shared = JSON.parse(
      (
        await keys(
          'create',
          '--name',
          'prod',
          '--scopes',
          'generate',
          '--cache-scope',
          'acme-prod',
          '--json',
        )
      ).output,
    );
    expect(shared.cacheScope).toBe('acme-prod');
    const bad = await keys(
      'create',
      '--name',
      'x',
      '--scopes',
      'generate',
      '--cache-scope',
      'Acme Prod',
    );
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('a cache scope is 1 to 64 lower-case letters');
  });

  it('lists keys with prefix, scopes and status, but never a key or secret', async () => {
    const created = JSON.parse(
      (await keys('create', '--name', 'listed', '--scopes', 'admin', '--json')).output,
    );
    const table = await keys('list');
    expect(table.code).toBe(0);
    expect(table.output).toMatch(
      /^PREFIX\s+NAME\s+SCOPES\s+BUDGETS\s+CREATED \(UTC\)\s+LAST USED\s+STATUS\s+ID$/m,
    );
    expect(table.output).toMatch(
      new RegExp(`^${created.prefix}\\s+listed\\s+admin\\s+-\\s+.*active\\s+${created.id}$`, 'm'),
    );
    const json = await keys('list', '--json');
    expect(JSON.parse(json.output)).toContainEqual({
      id: created.id,
      name: 'listed',
      prefix: created.prefix,
      scopes: ['admin'],
      cacheScope: created.id,
      dailyBudgetUsd: null,
      dailyBudgetUsdHard: null,
      createdAt: created.createdAt,
      lastUsedAt: null,
      revokedAt: null,
    });
    for (const output of [table.output, json.output]) {
      expect(output).not.toContain(created.key);
      expect(output).not.toContain('whsec_');
    }
  });

  it("sets, shows and clears a key's daily budgets, each level on its own", async () => {
    const created = JSON.parse(
      (await keys('create', '--name', 'budgeted', '--scopes', 'generate', '--json')).output,
    );
    const set = await keys('budget', created.prefix, '--daily', '0.5', '--hard', '2');
    expect(set).toEqual({
      code: 0,
      output: expect.stringContaining(`budgets of ${created.prefix}: daily $0.5, hard $2`),
    });
    expect(await verifyApiKey(database.db, created.key)).toMatchObject({
      dailyBudgetUsd: 0.5,
      dailyBudgetUsdHard: 2,
    });
    expect((await keys('list')).output).toMatch(
      new RegExp(`^${created.prefix}\\s+budgeted\\s+generate\\s+\\$0\\.5/\\$2\\s`, 'm'),
    );
    // Only the level given changes; `none` hands it back to the setting.
    expect((await keys('budget', created.id, '--daily', 'none')).code).toBe(0);
    expect(await verifyApiKey(database.db, created.key)).toMatchObject({
      dailyBudgetUsd: null,
      dailyBudgetUsdHard: 2,
    });
  }, 60_000);

  it('refuses budgets it cannot use, naming the problem, and changes nothing', async () => {
    const created = JSON.parse(
      (await keys('create', '--name', 'refused', '--scopes', 'generate', '--json')).output,
    );
    // Checked before connecting: these run side by side.
    const [below, word, negative, nothing, unknown] = await Promise.all([
      keys('budget', created.prefix, '--daily', '3', '--hard', '1'),
      keys('budget', created.prefix, '--daily', 'lots'),
      keys('budget', created.prefix, '--hard', '-1'),
      keys('budget', created.prefix),
      keys('budget', 'lb_NOPE0000', '--daily', '1'),
    ]);
    expect(below.code).toBe(2);
    expect(below.output).toContain('the hard daily budget ($1) is below the soft one ($3)');
    expect(word.code).toBe(2);
    expect(word.output).toContain('"lots" is not an amount of USD');
    expect(negative.code).toBe(2);
    expect(negative.output).toContain('a daily budget is an amount of USD from 0 to 1000000');
    expect(nothing.code).toBe(2);
    expect(nothing.output).toContain('give --daily <usd|none>, --hard <usd|none>, or both');
    expect(unknown.code).toBe(1);
    expect(unknown.output).toContain('no API key with id or prefix "lb_NOPE0000"');
    expect(await verifyApiKey(database.db, created.key)).toMatchObject({
      dailyBudgetUsd: null,
      dailyBudgetUsdHard: null,
    });
  }, 60_000);

  it('revokes a key by prefix, after which it no longer verifies', async () => {
    const created = JSON.parse(
      (await keys('create', '--name', 'leaked', '--scopes', 'read', '--json')).output,
    );
    expect(await keys('revoke', created.prefix)).toEqual({
      code: 0,
      output: `revoked ${created.prefix}\n`,
    });
    expect(await verifyApiKey(database.db, created.key)).toBeUndefined();
    expect((await keys('list')).output).toMatch(
      new RegExp(`^${created.prefix}\\s.*revoked \\d{4}-`, 'm'),
    );
    expect((await keys('revoke', created.id)).code).toBe(0);
  });

  it('exits 1 and says so when no key has that id or prefix', async () => {
    expect(await keys('revoke', 'lb_zzzzzzzz')).toEqual({
      code: 1,
      output: 'lowburn: no API key with id or prefix "lb_zzzzzzzz"\n',
    });
  });

  it('refuses unknown scopes with exit code 2, listing the valid ones, and creates nothing', async () => {
    const before = await listApiKeys(database.db);
    expect(await keys('create', '--name', 'x', '--scopes', 'read,everything')).toEqual({
      code: 2,
      output:
        'lowburn: unknown scope "everything"; valid scopes: generate, telemetry, read, admin\n',
    });
    expect((await keys('create', '--name', ' ', '--scopes', 'read')).code).toBe(2);
    expect(await listApiKeys(database.db)).toEqual(before);
  });
});
