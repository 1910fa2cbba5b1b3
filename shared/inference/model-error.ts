// No imports: the generate job's error handling reads this without loading a model client.

export type Route = 'local' | 'frontier';

export type ModelFailure = 'error' | 'timeout' | 'invalid';

/** A model call that failed, timed out, or answered something unusable. */
export class ModelError extends Error {
  readonly route: Route;
  readonly reason: ModelFailure;
  /** No connection to the model server could be made or kept (refused, reset, no such host). */
  readonly unreachable: boolean;
  constructor(
    route: Route,
    reason: ModelFailure,
    message: string,
    options?: ErrorOptions & { unreachable?: boolean },
  ) {
    super(message, options);
    this.name = 'ModelError';
    this.route = route;
    this.reason = reason;
    this.unreachable = options?.unreachable ?? false;
  }
}
