import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { PgEncodingError } from '../errors/pg-encoding-error.ts';
import { copyFrom } from './create-db.ts';
import {
  isoToPgMicros,
  type PgColumn,
  pgArray,
  pgBinary,
  pgCopyRows,
  pgMicrosToDay,
} from './pg-binary.ts';

// Each encoder is checked against Postgres itself: the same values sent as a binary array and
// as a text array (which Postgres parses and casts) must come back identical.
describe('Postgres binary format', () => {
  const database = useTestDatabase();

  /** Both arrays unnested side by side, rendered as text by Postgres; rows that differ. */
  const differences = async (type: string, binary: Buffer, text: unknown[]) => {
    const { rows } = await sql<{ b: string | null; t: string | null }>`
      SELECT b::text AS b, t::text AS t
      FROM unnest(${binary}::${sql.raw(type)}[], ${text}::${sql.raw(type)}[]) AS x(b, t)
      WHERE b IS DISTINCT FROM t`.execute(database.db);
    return rows;
  };

  const iso = fc
    .record({
      ms: fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2100, 0, 1) }),
      fraction: fc.option(fc.stringMatching(/^\d{1,9}$/), { nil: undefined }),
      zone: fc.constantFrom('Z', 'z', '+00:00', '+05:30', '-08:00', '+14:00', '-0330'),
    })
    .map(({ ms, fraction, zone }) => {
      const base = new Date(ms).toISOString().slice(0, 19);
      return `${base}${fraction === undefined ? '' : `.${fraction}`}${zone}`;
    });

  const timestampDifferences = (values: string[]) =>
    differences('timestamptz', pgArray(pgBinary.timestamptz, values.map(isoToPgMicros)), values);

  it('stores every timestamp at the microsecond Postgres parses from text', async () => {
    const ties = [
      '2026-11-25T10:00:00.0000005Z', // rounds to even: .000000
      '2026-11-25T10:00:00.0000015Z', // rounds to even: .000002
      '2026-11-25T10:00:00.9999996Z', // carries into the next second
      '2026-11-25T23:59:59.999999+05:30',
      '2000-01-01T00:00:00Z',
      '1999-12-31T23:59:59.5Z',
    ];
    expect(await timestampDifferences(ties)).toEqual([]);
    expect(pgMicrosToDay(isoToPgMicros('2026-11-25T23:59:59.9999996Z'))).toBe('2026-11-26');
    expect(pgMicrosToDay(isoToPgMicros('2026-11-26T01:00:00+05:30'))).toBe('2026-11-25');
    await fc.assert(
      fc.asyncProperty(fc.array(iso, { minLength: 1, maxLength: 50 }), async (values) => {
        expect(await timestampDifferences(values)).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it('sends text, uuids, numbers and JSON unchanged, NULLs included', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(fc.string({ unit: 'grapheme', minLength: 0 }), { nil: null })),
        fc.array(fc.uuid()),
        fc.array(fc.double({ noNaN: true, noDefaultInfinity: true })),
        fc.array(fc.option(fc.json(), { nil: null })),
        async (texts, uuids, numbers, jsons) => {
          const clean = texts.map((t) => t?.replaceAll('\u0000', '') ?? null);
          expect(await differences('text', pgArray(pgBinary.text, clean), clean)).toEqual([]);
          expect(await differences('uuid', pgArray(pgBinary.uuid, uuids), uuids)).toEqual([]);
          expect(await differences('float8', pgArray(pgBinary.float8, numbers), numbers)).toEqual(
            [],
          );
          expect(await differences('jsonb', pgArray(pgBinary.jsonb, jsons), jsons)).toEqual([]);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('COPYs rows in binary that read back as the same values, inside a transaction', async () => {
    const { db } = database;
    await sql`CREATE TABLE copy_rows (id uuid PRIMARY KEY, name text, at timestamptz,
      n float8, doc jsonb)`.execute(db);
    const target = sql`copy_rows (id, name, at, n, doc)`;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.uuid(), { minLength: 1, maxLength: 40 }).chain((ids) =>
          fc.tuple(
            fc.constant(ids),
            fc.array(fc.option(fc.string({ unit: 'grapheme' }), { nil: null }), {
              minLength: ids.length,
              maxLength: ids.length,
            }),
            fc.array(iso, { minLength: ids.length, maxLength: ids.length }),
            fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), {
              minLength: ids.length,
              maxLength: ids.length,
            }),
            fc.array(fc.option(fc.json(), { nil: null }), {
              minLength: ids.length,
              maxLength: ids.length,
            }),
          ),
        ),
        async ([ids, names, ats, ns, docs]) => {
          const clean = names.map((t) => t?.replaceAll('\u0000', '') ?? null);
          const data = pgCopyRows([
            { codec: pgBinary.uuid, values: ids },
            { codec: pgBinary.text, values: clean },
            { codec: pgBinary.timestamptz, values: ats.map(isoToPgMicros) },
            { codec: pgBinary.float8, values: ns },
            { codec: pgBinary.jsonb, values: docs },
          ] as PgColumn<unknown>[]);
          await db.transaction().execute(async (trx) => {
            await sql`TRUNCATE copy_rows`.execute(trx);
            await copyFrom(target, data).execute(trx);
          });
          // The same values as Postgres parses them from text, row by row.
          const { rows } = await sql<{ id: string }>`
            SELECT c.id FROM copy_rows c
            JOIN unnest(${ids}::uuid[], ${clean}::text[], ${ats}::timestamptz[],
              ${ns}::float8[], ${docs}::jsonb[]) AS t(id, name, at, n, doc)
              ON t.id = c.id AND t.name IS NOT DISTINCT FROM c.name AND t.at = c.at
              AND t.n = c.n AND t.doc IS NOT DISTINCT FROM c.doc`.execute(db);
          expect(rows).toHaveLength(ids.length);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('fails a COPY whole on a duplicate key, and the connection goes on working', async () => {
    const { db } = database;
    await sql`CREATE TABLE copy_keys (id uuid PRIMARY KEY)`.execute(db);
    const id = '0190f1c2-0000-7000-8000-000000000001';
    const rows = (ids: string[]) => pgCopyRows([{ codec: pgBinary.uuid, values: ids }]);
    await copyFrom(sql`copy_keys (id)`, rows([id])).execute(db);
    const failed = await db
      .transaction()
      .execute((trx) =>
        copyFrom(sql`copy_keys (id)`, rows(['0190f1c2-0000-7000-8000-000000000002', id])).execute(
          trx,
        ),
      )
      .catch((error: { code?: string }) => error.code);
    expect(failed).toBe('23505');
    const { rows: stored } = await sql<{ id: string }>`SELECT id FROM copy_keys`.execute(db);
    expect(stored.map((r) => r.id)).toEqual([id]);
  });

  it('refuses what Postgres would refuse, with its SQLSTATE', () => {
    const refused = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error instanceof PgEncodingError ? error.code : 'other';
      }
      return 'accepted';
    };
    expect(refused(() => pgArray(pgBinary.uuid, ['not-a-uuid']))).toBe('22P02');
    expect(refused(() => pgArray(pgBinary.uuid, ['0190f1c2-0000-7000-8000-00000000000g']))).toBe(
      '22P02',
    );
    expect(refused(() => isoToPgMicros('2026-11-25T10:00:00'))).toBe('22007'); // no zone
    expect(refused(() => isoToPgMicros('2026-13-45T10:00:00Z'))).toBe('22007');
    expect(refused(() => pgArray(pgBinary.text, [42 as unknown as string]))).toBe('22P02');
    expect(refused(() => pgArray(pgBinary.float8, ['1' as unknown as number]))).toBe('22P02');
  });
});
