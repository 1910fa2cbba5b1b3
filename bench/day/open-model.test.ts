import { describe, expect, it } from 'vitest';
import { openModel } from './open-model.ts';

describe('the open-model scheduler', () => {
  it('starts every arrival when due even when no answer ever comes', async () => {
    const due = Array.from({ length: 50 }, (_, i) => i * 10);
    const startedAt: number[] = [];
    const hanging: Promise<never>[] = [];
    const origin = performance.now() + 20;
    const lag = await openModel(due, origin, (i) => {
      startedAt[i] = performance.now() - origin;
      hanging.push(new Promise<never>(() => {}));
    });
    expect(lag).toMatchObject({ started: 50, late: 0 });
    expect(hanging).toHaveLength(50);
    // Never early, and in order.
    expect(startedAt.every((t, i) => t >= (due[i] ?? 0))).toBe(true);
    expect(lag.maxMs).toBeLessThan(1_000);
  });

  it('counts the arrivals its own busy event loop delayed by over 1 s as late', async () => {
    const origin = performance.now();
    // Due at 0, 100, …, 1,900 ms; the loop is held for 1.6 s by the first arrival, so those due
    // before 0.6 s go out over 1 s late, the rest on time.
    const due = Array.from({ length: 20 }, (_, i) => i * 100);
    const lag = await openModel(due, origin, (i) => {
      if (i === 0) {
        const until = performance.now() + 1_600;
        while (performance.now() < until) {}
      }
    });
    expect(lag.started).toBe(20);
    expect(lag.late).toBeGreaterThanOrEqual(5);
    expect(lag.late).toBeLessThanOrEqual(7);
    expect(lag.maxMs).toBeGreaterThan(1_400);
  });

  it('stops starting arrivals once told to', async () => {
    const stop = new AbortController();
    let started = 0;
    const lag = await openModel(
      [0, 5, 10, 60_000],
      performance.now(),
      (i) => {
        started++;
        if (i === 2) stop.abort();
      },
      { stop: stop.signal },
    );
    expect(lag.started).toBe(3);
    expect(started).toBe(3);
  });
});
