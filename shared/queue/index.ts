export { createProcessor } from './create-processor.ts';
export { bullJobOptions, resolveJobOptions } from './default-options.ts';
export {
  type AnyJobDefinition,
  defineCatalog,
  defineJob,
  defineQueue,
  type JobCatalog,
  type JobContext,
  type JobDefinition,
  type JobDeps,
  type JobOptions,
  type JobSchedule,
  type QueueContract,
} from './job-definition.ts';
export { parsePayload, Queues } from './queues.ts';
