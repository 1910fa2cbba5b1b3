import type pg from 'pg';
import { quoteIdent } from './duckdb.ts';

/**
 * One Postgres column on its way to Parquet: how Postgres writes it into CSV (`select`), the
 * type DuckDB reads that CSV field as (`csvType`), and the expression that gives the final
 * Parquet column (`read`, of type `type`).
 */
export interface ColumnPlan {
  name: string;
  /** `format_type` of the Postgres column, e.g. `timestamp with time zone`. */
  postgresType: string;
  /** The DuckDB (and so Parquet logical) type, e.g. `TIMESTAMP WITH TIME ZONE`. */
  type: string;
  select: string;
  csvType: string;
  read: string;
}

const direct: Record<string, string> = {
  uuid: 'UUID',
  text: 'VARCHAR',
  name: 'VARCHAR',
  citext: 'VARCHAR',
  'timestamp with time zone': 'TIMESTAMPTZ',
  'timestamp without time zone': 'TIMESTAMP',
  date: 'DATE',
  'time without time zone': 'TIME',
  jsonb: 'JSON',
  json: 'JSON',
  smallint: 'SMALLINT',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  real: 'FLOAT',
  'double precision': 'DOUBLE',
  boolean: 'BOOLEAN',
};

/**
 * Plans one column. Types without an exact DuckDB twin keep their exact text: unconstrained
 * `numeric` (DuckDB decimals stop at 38 digits) and anything unknown become VARCHAR; `bytea`
 * travels as base64 and becomes BLOB; arrays travel as JSON and stay JSON.
 */
export function planColumn(name: string, postgresType: string): ColumnPlan {
  const id = quoteIdent(name);
  const plain = (type: string): ColumnPlan => ({
    name,
    postgresType,
    type,
    select: id,
    csvType: type,
    read: id,
  });
  const base = postgresType.replace(/\(\d+\)$/, '');
  if (direct[base]) return plain(direct[base]);
  if (/^character( varying)?(\(\d+\))?$/.test(postgresType)) return plain('VARCHAR');
  const numeric = /^numeric\((\d+),(\d+)\)$/.exec(postgresType);
  if (numeric && Number(numeric[1]) <= 38) return plain(`DECIMAL(${numeric[1]},${numeric[2]})`);
  if (postgresType === 'bytea') {
    return {
      ...plain('BLOB'),
      select: `encode(${id}, 'base64')`,
      csvType: 'VARCHAR',
      read: `from_base64(${id})`,
    };
  }
  if (postgresType.endsWith('[]')) {
    return { ...plain('JSON'), select: `array_to_json(${id})`, csvType: 'JSON' };
  }
  return { ...plain('VARCHAR'), select: `${id}::text` };
}

/** The columns of a table (or partition) in order, planned for export. */
export async function tableColumns(client: pg.ClientBase, table: string): Promise<ColumnPlan[]> {
  const result = await client.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
     FROM pg_attribute a
     WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`,
    [quoteIdent(table)],
  );
  if (result.rows.length === 0)
    throw new Error(`table "${table}" does not exist or has no columns`);
  return result.rows.map((r) => planColumn(r.name, r.type));
}
