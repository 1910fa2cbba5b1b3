const QUOTE = 0x22;
const NEWLINE = 0x0a;

/**
 * Finds row ends in a CSV byte stream as Postgres writes it (`COPY … (FORMAT csv)`): a newline
 * ends a row unless it is inside a quoted field, and a quote inside a quoted field is doubled,
 * so toggling on every quote byte tracks the state exactly. Feeding chunks of any size, split
 * anywhere, finds the same row ends — one pass, `indexOf` jumps, no decoding.
 */
export class CsvRowScanner {
  #inQuotes = false;

  /**
   * Scans `chunk` from `start` and returns the offset just past the `limit`-th row end found,
   * or `-1` with all of the chunk consumed when fewer than `limit` rows end in it. `rows` in the
   * result is how many row ends were found (≤ `limit`).
   */
  scan(chunk: Uint8Array, start: number, limit: number): { end: number; rows: number } {
    let rows = 0;
    let at = start;
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (at < buf.length) {
      if (this.#inQuotes) {
        const quote = buf.indexOf(QUOTE, at);
        if (quote === -1) return { end: -1, rows };
        this.#inQuotes = false;
        at = quote + 1;
        continue;
      }
      const newline = buf.indexOf(NEWLINE, at);
      const quote = buf.indexOf(QUOTE, at);
      if (newline === -1 && quote === -1) return { end: -1, rows };
      if (quote !== -1 && (newline === -1 || quote < newline)) {
        this.#inQuotes = true;
        at = quote + 1;
        continue;
      }
      rows++;
      at = newline + 1;
      if (rows === limit) return { end: at, rows };
    }
    return { end: -1, rows };
  }
}
