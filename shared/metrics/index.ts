export { createWorkerMetrics, type WorkerMetrics } from './registry.ts';
