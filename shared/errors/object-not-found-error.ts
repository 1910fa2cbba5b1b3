/**
 * Thrown by `ObjectStorage.get` when no object exists at `key`. `head` returns `undefined`
 * instead, so callers that expect absence never need a try/catch.
 */
export class ObjectNotFoundError extends Error {
  /** The key as the caller gave it (without the driver's bucket prefix or root folder). */
  readonly key: string;

  constructor(key: string, options?: ErrorOptions) {
    super(`Object not found: "${key}"`, options);
    this.name = 'ObjectNotFoundError';
    this.key = key;
  }
}
