export {
  createWorkerMetrics,
  isMetricsFactory,
  oncePerRegistry,
  type WorkerMetrics,
} from './registry.ts';
