/**
 * The erasure's user has rows in a day the export is writing right now (its manifest does not
 * name the files yet): the erasure waits for it to finish before it is `hot-done`, so the cold
 * side, which reads manifests, cannot miss those rows.
 */
export class ExportInProgressError extends Error {
  readonly days: readonly string[];

  constructor(days: readonly string[]) {
    super(
      `waiting for the export of ${days.join(', ')} to finish (its files hold the user's rows)`,
    );
    this.name = 'ExportInProgressError';
    this.days = days;
  }
}
