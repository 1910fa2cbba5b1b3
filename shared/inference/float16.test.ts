import { describe, expect, it } from 'vitest';
import { fromFloat16Bits, packFloat16, toFloat16Bits, unpackFloat16 } from './float16.ts';

describe('float16 packing', () => {
  it('keeps exactly representable values exact', () => {
    for (const x of [0, 1, -2, 0.5, 0.0999755859375, 65504, 2 ** -14, 2 ** -24, -(2 ** -20)]) {
      expect(fromFloat16Bits(toFloat16Bits(x))).toBe(x);
    }
  });

  it('rounds to the nearest half, ties to even', () => {
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even mantissa 0
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even mantissa 2
    expect(toFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
  });

  it('overflows to infinity and keeps NaN', () => {
    expect(fromFloat16Bits(toFloat16Bits(70_000))).toBe(Number.POSITIVE_INFINITY);
    expect(fromFloat16Bits(toFloat16Bits(-Infinity))).toBe(Number.NEGATIVE_INFINITY);
    expect(fromFloat16Bits(toFloat16Bits(Number.NaN))).toBeNaN();
    expect(toFloat16Bits(2 ** -30)).toBe(0);
  });

  it('round-trips a unit vector within float16 precision', () => {
    const vector = Array.from({ length: 768 }, (_, i) => Math.sin(i) / Math.sqrt(384));
    const packed = packFloat16(vector);
    expect(packed).toHaveLength(1536);
    const back = unpackFloat16(packed);
    vector.forEach((x, i) => {
      expect(Math.abs(back[i]! - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 2 ** -25);
    });
  });
});
