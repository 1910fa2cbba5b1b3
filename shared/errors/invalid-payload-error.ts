import { UnrecoverableError } from 'bullmq';
import type { z } from 'zod';

/** One field of a payload that failed its schema. */
export interface PayloadIssue {
  /** Dotted path to the field (`params.size`, `messages.2.role`); empty for the payload itself. */
  field: string;
  message: string;
}

/**
 * A job payload failed its schema. Unrecoverable: retrying the same bytes cannot succeed,
 * so BullMQ fails the job at once instead of burning its attempts.
 */
export class InvalidPayloadError extends UnrecoverableError {
  readonly queue: string;
  readonly issues: PayloadIssue[];

  constructor(queue: string, issues: PayloadIssue[]) {
    super(
      `invalid payload for ${queue}: ${issues
        .map((i) => (i.field ? `${i.field}: ${i.message}` : i.message))
        .join('; ')}`,
    );
    this.name = 'InvalidPayloadError';
    this.queue = queue;
    this.issues = issues;
  }

  static fromZod(queue: string, error: z.ZodError): InvalidPayloadError {
    return new InvalidPayloadError(
      queue,
      error.issues.map((issue) => ({ field: issue.path.join('.'), message: issue.message })),
    );
  }
}
