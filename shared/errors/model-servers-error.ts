/** The model servers in `OLLAMA_URL` do not all serve the same models. */
export class ModelServersError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(
      `the model servers in OLLAMA_URL disagree:\n${problems.map((p) => `  - ${p}`).join('\n')}\n` +
        'Every server must serve the same LOCAL_MODEL and EMBED_MODEL: a request goes to any of them.',
    );
    this.name = 'ModelServersError';
    this.problems = problems;
  }
}
