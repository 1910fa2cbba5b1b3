/**
 * What was read back from object storage (or counted in Postgres) disagrees with what the
 * export wrote. Nothing is dropped; the day goes back to `pending` and is written again.
 */
export class ExportVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportVerificationError';
  }
}
