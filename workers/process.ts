import { type Config, loadConfig } from '../shared/config/load-config.ts';
import {
  assertProcessRequirements,
  type ProcessName,
} from '../shared/config/process-requirements.ts';
import { ConfigError } from '../shared/errors/config-error.ts';
import { ModelServersError } from '../shared/errors/model-servers-error.ts';
import { RedisPreflightError } from '../shared/errors/redis-preflight-error.ts';
import { createLogger, type Logger } from '../shared/log/logger.ts';
import { SecretKeyring } from '../shared/secrets/secret-keyring.ts';

/** sysexits' EX_CONFIG: the process cannot run with the configuration it was given. */
export const EXIT_CONFIG = 78;

/**
 * Loads the configuration once for a process, or exits with the message that says what to fix.
 * `name` adds the settings only that process uses (the board's password, say).
 */
export function bootConfig(
  name: ProcessName = 'cli',
  env: Record<string, string | undefined> = process.env,
): Config {
  try {
    const config = loadConfig(env);
    assertProcessRequirements(config, name);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`lowburn: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}

export function processLogger(config: Config, name: string): Logger {
  return createLogger({ level: config.logLevel, name });
}

/**
 * The process's keyring (`SECRETS_KEY`, `SECRETS_KEY_PREVIOUS`), with a warning when the key is
 * the public development key: secrets sealed under it are as good as plain text. Not under
 * `NODE_ENV=test`, where that key is the point (and a fault run reads warnings as faults).
 */
export function processKeyring(config: Config, log: Logger): SecretKeyring {
  if (config.secrets.devKey && config.env !== 'test') {
    log.warn(
      'SECRETS_KEY is the public development key: stored webhook secrets are NOT protected; set SECRETS_KEY (openssl rand -base64 32) before storing real ones, keeping this one as SECRETS_KEY_PREVIOUS until `lowburn secrets rotate` has run',
    );
  }
  return SecretKeyring.fromConfig(config.secrets);
}

/** Reports a boot failure the way an operator can act on it, and exits non-zero. */
export function exitOnBootError(error: unknown, log: Logger): never {
  if (
    error instanceof ConfigError ||
    error instanceof RedisPreflightError ||
    error instanceof ModelServersError
  ) {
    process.stderr.write(`lowburn: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  log.fatal({ err: error }, 'failed to start');
  process.exit(1);
}

/**
 * Runs `stop` on the first SIGTERM or SIGINT, then exits; a second signal exits at once.
 */
export function onShutdownSignal(log: Logger, stop: () => Promise<unknown>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
