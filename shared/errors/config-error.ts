/** One problem with one environment variable. */
export interface ConfigIssue {
  variable: string;
  problem: string;
  example: string;
}

/**
 * Thrown when the environment does not describe a runnable lowburn. The message lists every
 * problem at once, each with the variable, what is wrong and an example of a good value.
 */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(
      `Invalid configuration:\n${issues
        .map((i) => `  ${i.variable}: ${i.problem} (example: ${i.variable}=${i.example})`)
        .join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
