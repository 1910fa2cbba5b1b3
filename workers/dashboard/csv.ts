import { stringify } from 'csv-stringify/sync';
import type { Table } from './tables.ts';

/** A table as RFC 4180 CSV: a header of column keys, raw values, empty for none. */
export function tableCsv(t: Table): string {
  return stringify([t.columns.map((c) => c.key), ...t.rows.map((r) => r.map((v) => v ?? ''))], {
    record_delimiter: 'windows',
  });
}
