import type { Cell, Column, Table } from './tables.ts';

/** Dollars with as many decimals as a small figure needs: $20.00, $0.5044, $0.000135. */
export function usd(n: number | null): string {
  if (n === null) return '—';
  const digits = n === 0 || Math.abs(n) >= 1 ? 2 : Math.abs(n) >= 0.01 ? 4 : 6;
  return `$${n.toFixed(digits)}`;
}

export const share = (n: number | null) => (n === null ? '—' : `${(n * 100).toFixed(1)} %`);
// One formatter for the page: `toLocaleString` builds a new one per call (~10 µs each, for
// thousands of cells).
const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
export const count = (n: number | null) => (n === null ? '—' : grouped.format(n));

export function bytes(n: number | null): string {
  if (n === null) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/** A cell as the page shows it; `row` lets the headroom's amounts read in their unit. */
export function formatCell(column: Column, value: Cell, row: Cell[], table: Table): string {
  if (value === null || value === '') return '—';
  if (typeof value === 'string') return value;
  const unit = table.columns.findIndex((c) => c.key === 'unit');
  if (column.format === 'number' && unit >= 0 && row[unit] === 'bytes') return bytes(value);
  if (column.format === 'number' && unit >= 0) return `${count(value)} ${row[unit]}`;
  switch (column.format) {
    case 'usd':
      return usd(value);
    case 'share':
      return share(value);
    case 'bytes':
      return bytes(value);
    default:
      return count(value);
  }
}
