import { UnrecoverableError } from 'bullmq';

/**
 * A fine-tune export that failed its dataset checks (the OpenAI cookbook's, on the lines about
 * to be written, and the minimum example count). Nothing was written to object storage.
 * Unrecoverable: the same rows would fail the same way; the next scheduled run reads anew.
 */
export class FinetuneRefusedError extends UnrecoverableError {
  /** Each failed check and how many examples failed it (`too_few_examples`: the count found). */
  readonly counts: Record<string, number>;

  constructor(counts: Record<string, number>, detail: string) {
    super(`refusing to write the fine-tune files: ${detail}`);
    this.name = 'FinetuneRefusedError';
    this.counts = counts;
  }
}
