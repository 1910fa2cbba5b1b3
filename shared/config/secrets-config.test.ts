import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { DEV_SECRETS_KEY } from '../secrets/secret-key.ts';
import { loadConfig } from './load-config.ts';
import { assertProcessRequirements } from './process-requirements.ts';

const base = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
};
const production = { ...base, NODE_ENV: 'production' };

function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('SECRETS_KEY', () => {
  it('is the base64 of 32 bytes, decoded', () => {
    const key = randomBytes(32);
    const config = loadConfig({ ...production, SECRETS_KEY: `${key.toString('base64')}\n` });
    expect(config.secrets).toEqual({ key, previousKey: undefined, devKey: false });
  });

  it.each([
    ['too short', randomBytes(16).toString('base64')],
    ['too long', randomBytes(48).toString('base64')],
    ['not base64', 'correct horse battery staple, 32 bytes or so maybe?'],
    ['hex, not base64', randomBytes(32).toString('hex')],
    ['base64url', `${'a-_b'.repeat(10)}abc=`],
  ])('is refused when %s, naming the variable and hiding the value', (_, value) => {
    const message = configError(() => loadConfig({ ...production, SECRETS_KEY: value }));
    expect(message).toContain(
      'SECRETS_KEY: (secret value hidden) must be the base64 of exactly 32 random bytes, e.g. from `openssl rand -base64 32`',
    );
    expect(message).not.toContain(value);
  });

  it('checks SECRETS_KEY_PREVIOUS the same way', () => {
    expect(
      configError(() => loadConfig({ ...production, SECRETS_KEY_PREVIOUS: 'c2hvcnQ=' })),
    ).toContain('SECRETS_KEY_PREVIOUS: (secret value hidden) must be the base64 of exactly 32');
  });

  it('is the public development key when unset outside production, and flagged so', () => {
    for (const NODE_ENV of ['development', 'test']) {
      const { secrets } = loadConfig({ ...base, NODE_ENV });
      expect(secrets.key?.toString('base64')).toBe(DEV_SECRETS_KEY);
      expect(secrets.devKey).toBe(true);
    }
    expect(loadConfig(production).secrets).toEqual({
      key: undefined,
      previousKey: undefined,
      devKey: false,
    });
  });

  it('is required in production by the processes that seal or open secrets, naming each', () => {
    const config = loadConfig(production);
    for (const [process, why] of [
      ['worker', 'it signs webhook deliveries'],
      ['keys create', "it encrypts the new key's webhook secret"],
      ['secrets rotate', 'it re-encrypts webhook secrets under it'],
    ] as const) {
      expect(configError(() => assertProcessRequirements(config, process))).toContain(
        `SECRETS_KEY: is required by \`lowburn ${process}\` when NODE_ENV=production (${why})`,
      );
    }
  });

  it('is not asked of the API, the board, other commands, or a worker without deliver-webhook', () => {
    const config = loadConfig({ ...production, BOARD_PASSWORD: 'a-long-random-password' });
    for (const process of ['api', 'board', 'cli'] as const) {
      expect(() => assertProcessRequirements(config, process)).not.toThrow();
    }
    const telemetryOnly = loadConfig({ ...production, WORKER_QUEUES: 'flush-telemetry' });
    expect(() => assertProcessRequirements(telemetryOnly, 'worker')).not.toThrow();
    const delivering = loadConfig({
      ...production,
      WORKER_QUEUES: 'flush-telemetry,deliver-webhook',
    });
    expect(() => assertProcessRequirements(delivering, 'worker')).toThrow(/SECRETS_KEY/);
  });
});
