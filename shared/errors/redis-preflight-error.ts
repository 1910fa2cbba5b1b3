/** Redis is configured so that jobs or schedules could be silently lost. */
export class RedisPreflightError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(
      `Redis is not safe for a job queue:\n${problems.map((p) => `  - ${p}`).join('\n')}\n` +
        'Fix the Redis configuration (infra/redis.conf shows a safe one).',
    );
    this.name = 'RedisPreflightError';
    this.problems = problems;
  }
}
