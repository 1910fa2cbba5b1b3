import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { envSpec } from './env-spec.ts';
import type { Config } from './load-config.ts';

/** The lowburn processes (and CLI commands) that demand settings of their own. */
export type ProcessName = 'api' | 'worker' | 'board' | 'cli';

/**
 * Settings that only some processes use, checked only for those: `lowburn migrate` or `keys
 * create` must not need the board's password. Each problem names the process that needs the
 * setting, so an operator knows which container to fix.
 */
const requirements: Record<ProcessName, (config: Config) => ConfigIssue[]> = {
  api: () => [],
  worker: () => [],
  cli: () => [],
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

/** Throws a {@link ConfigError} listing what `process` needs and `config` lacks. */
export function assertProcessRequirements(config: Config, process: ProcessName): void {
  const issues = requirements[process](config);
  if (issues.length > 0) throw new ConfigError(issues);
}
