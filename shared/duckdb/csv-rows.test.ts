import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvRowScanner } from './csv-rows.ts';

// Fields as Postgres quotes them: quoted when they hold a comma, quote, newline or are empty.
const field = fc.string({ unit: fc.constantFrom('a', 'b', ',', '"', '\n', '\r', ' ', 'é') });
const csvField = (f: string) =>
  /[",\n\r]/.test(f) || f === '' ? `"${f.replaceAll('"', '""')}"` : f;
const rowsArb = fc.array(fc.array(field, { minLength: 1, maxLength: 4 }), { maxLength: 30 });

function countRows(bytes: Buffer, cuts: number[], limit: number): number[] {
  const scanner = new CsvRowScanner();
  const ends: number[] = [];
  let offset = 0;
  let sinceLast = 0;
  const bounds = [...new Set([0, ...cuts.map((c) => c % (bytes.length + 1)), bytes.length])].sort(
    (a, b) => a - b,
  );
  for (let i = 0; i + 1 < bounds.length; i++) {
    const chunk = bytes.subarray(bounds[i], bounds[i + 1]);
    let at = 0;
    for (;;) {
      const { end, rows } = scanner.scan(chunk, at, limit - sinceLast);
      if (end === -1) {
        sinceLast += rows;
        break;
      }
      ends.push(offset + end);
      sinceLast = 0;
      at = end;
    }
    offset += chunk.length;
  }
  return ends;
}

describe('CsvRowScanner', () => {
  it('finds every row end, wherever the chunks are cut', () => {
    fc.assert(
      fc.property(rowsArb, fc.array(fc.nat(), { maxLength: 6 }), (rows, cuts) => {
        const lines = rows.map((r) => `${r.map(csvField).join(',')}\n`);
        const bytes = Buffer.from(lines.join(''));
        const expected: number[] = [];
        let at = 0;
        for (const line of lines) {
          at += Buffer.byteLength(line);
          expected.push(at);
        }
        expect(countRows(bytes, cuts, 1)).toEqual(expected);
      }),
    );
  });

  it('stops after the limit-th row and reports partial counts', () => {
    const bytes = Buffer.from('1,"a\nb"\n2,x\n3,"say ""hi"""\n4,y\n');
    const scanner = new CsvRowScanner();
    expect(scanner.scan(bytes, 0, 3)).toEqual({ end: 27, rows: 3 });
    expect(scanner.scan(bytes, 27, 3)).toEqual({ end: -1, rows: 1 });
  });
});
