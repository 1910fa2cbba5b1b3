import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * Structured JSON logs on stdout, one line per event. Child loggers carry `queue` and `jobId`
 * so every line a job writes can be found by either.
 */
export function createLogger(options: { level: string; name?: string }): Logger {
  return pino({
    level: options.level,
    base: { service: options.name ?? 'lowburn' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
