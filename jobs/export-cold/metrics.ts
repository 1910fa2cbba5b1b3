import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';

export interface ExportMetrics {
  days: Counter<'table' | 'state'>;
  rows: Counter<'table'>;
  lateRows: Counter<'table'>;
  duration: Histogram;
  lastSuccess: Gauge;
}

/** The cold export's metrics, registered once on the process's `/metrics` registry. */
export const exportMetrics = oncePerRegistry((registry: Registry): ExportMetrics => {
  const registers = [registry];
  const metrics: ExportMetrics = {
    days: new Counter({
      name: 'lowburn_export_days_total',
      help: 'Days handled by export-cold, by the state they ended the run in.',
      labelNames: ['table', 'state'],
      registers,
    }),
    rows: new Counter({
      name: 'lowburn_export_rows_total',
      help: 'Rows moved to cold storage (partition dropped).',
      labelNames: ['table'],
      registers,
    }),
    lateRows: new Counter({
      name: 'lowburn_export_late_rows_total',
      help: 'Late rows exported as additional parts of an exported day.',
      labelNames: ['table'],
      registers,
    }),
    duration: new Histogram({
      name: 'lowburn_export_duration_seconds',
      help: 'Duration of export-cold runs.',
      buckets: [1, 5, 15, 60, 300, 900, 3600],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'lowburn_export_last_success_timestamp_seconds',
      help: 'When export-cold last finished a run (alert when older than a day and a bit).',
      registers,
    }),
  };
  return metrics;
});
