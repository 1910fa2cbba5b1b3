import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { envSpec } from './env-spec.ts';
import type { Config } from './load-config.ts';
import { missingSecretsKey } from './secrets-config.ts';

/** The lowburn processes (and CLI commands) that demand settings of their own. */
export type ProcessName = 'api' | 'worker' | 'board' | 'cli' | 'keys create' | 'secrets rotate';

// The queue whose jobs open webhook secrets (to sign deliveries). Named here rather than
// imported: the config layer does not load job definitions.
const SECRET_READING_QUEUES = ['deliver-webhook', 'erase-user'];

/**
 * Settings that only some processes use, checked only for those: `lowburn migrate` or `keys
 * create` must not need the board's password, nor the API the secrets key. Each problem names
 * the process that needs the setting, so an operator knows which container to fix.
 * (`lowburn migrate` needs `SECRETS_KEY` only when it has rows to encrypt; the migration itself
 * checks, since only the database knows.)
 */
const requirements: Record<ProcessName, (config: Config) => ConfigIssue[]> = {
  api: () => [],
  cli: () => [],
  worker: (config) => {
    const { queues } = config.worker;
    const opensSecrets = queues === 'all' || queues.some((q) => SECRET_READING_QUEUES.includes(q));
    return opensSecrets ? secretsKey(config, 'lowburn worker', 'it signs webhook deliveries') : [];
  },
  'keys create': (config) =>
    secretsKey(config, 'lowburn keys create', "it encrypts the new key's webhook secret"),
  'secrets rotate': (config) =>
    secretsKey(config, 'lowburn secrets rotate', 'it re-encrypts webhook secrets under it'),
  board: (config) =>
    config.env === 'production' && !config.board.password
      ? [
          {
            variable: 'BOARD_PASSWORD',
            problem:
              'is required by `lowburn board` when NODE_ENV=production (the board controls every queue)',
            example: envSpec.BOARD_PASSWORD.example,
          },
        ]
      : [],
};

function secretsKey(config: Config, process: string, why: string): ConfigIssue[] {
  // Outside production an unset key is the development key, so `key` is only missing here.
  if (config.secrets.key) return [];
  return [missingSecretsKey(`is required by \`${process}\` when NODE_ENV=production (${why})`)];
}

/** Throws a {@link ConfigError} listing what `process` needs and `config` lacks. */
export function assertProcessRequirements(config: Config, process: ProcessName): void {
  const issues = requirements[process](config);
  if (issues.length > 0) throw new ConfigError(issues);
}
