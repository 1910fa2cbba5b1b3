export { createWorkerMetrics, oncePerRegistry, type WorkerMetrics } from './registry.ts';
