/** The abort reason given to processors whose worker is shutting down; the job is handed back. */
export class WorkerShutdownError extends Error {
  constructor() {
    super('worker is shutting down; the job goes back to the queue');
    this.name = 'WorkerShutdownError';
  }
}
