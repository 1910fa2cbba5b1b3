import { describe, expect, it } from 'vitest';
import { wilsonInterval } from './wilson.ts';

describe('the Wilson score interval', () => {
  it.each([
    [0, 200, 0, 0.018845326],
    [10, 200, 0.027382646, 0.089578148],
    [100, 200, 0.43136086, 0.56863914],
    [200, 200, 0.981154674, 1],
  ])('of %i in %i is %f to %f', (k, n, low, high) => {
    const interval = wilsonInterval(k, n);
    expect(interval.low).toBeCloseTo(low, 8);
    expect(interval.high).toBeCloseTo(high, 8);
  });

  it("matches Newcombe's published values (Statistics in Medicine 1998, method 3)", () => {
    const round = ({ low, high }: { low: number; high: number }) => [
      Number(low.toFixed(4)),
      Number(high.toFixed(4)),
    ];
    expect(round(wilsonInterval(81, 263))).toEqual([0.2553, 0.3662]);
    expect(round(wilsonInterval(15, 148))).toEqual([0.0624, 0.1605]);
    expect(round(wilsonInterval(0, 20))).toEqual([0, 0.1611]);
    expect(round(wilsonInterval(1, 29))).toEqual([0.0061, 0.1718]);
  });

  it('refuses an empty sample and impossible counts', () => {
    expect(() => wilsonInterval(0, 0)).toThrow(RangeError);
    expect(() => wilsonInterval(3, 2)).toThrow(RangeError);
    expect(() => wilsonInterval(-1, 2)).toThrow(RangeError);
  });
});
