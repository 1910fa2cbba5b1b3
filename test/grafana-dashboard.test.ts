import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { alertConditions } from '../shared/alerts/conditions/index.ts';
import { createWorkerMetrics, isMetricsFactory } from '../shared/metrics/index.ts';
import { useTestDatabase } from './fixtures/postgres.ts';
import { useRedis } from './fixtures/redis.ts';

const root = path.resolve(import.meta.dirname, '..');

interface Panel {
  title: string;
  type: string;
  id: number;
  targets?: { expr: string }[];
  gridPos: { x: number; w: number };
}

const dashboard = JSON.parse(
  readFileSync(path.join(root, 'infra/grafana/lowburn.json'), 'utf8'),
) as {
  panels: Panel[];
};

describe('the Grafana dashboard (infra/grafana/lowburn.json)', () => {
  const pg = useTestDatabase();
  const r = useRedis();

  /**
   * Every metric name a worker process can expose: the worker's own registry plus every
   * metrics factory of every `jobs/<name>/metrics.ts` (found by reading the folder, so a new
   * job's metrics count without an edit here), read from a real scrape's `# TYPE` lines.
   */
  async function exposedNames(): Promise<Set<string>> {
    const { registry } = createWorkerMetrics();
    // The factories that read a store at scrape time get the store; the others only a registry.
    const argsOf: Record<string, unknown[]> = {
      dispatchMetrics: [r.redis, r.prefix],
      flushMetrics: [r.redis, r.prefix],
      alertMetrics: [pg.db, alertConditions.map((c) => c.id)],
    };
    let factories = 0;
    for (const job of readdirSync(path.join(root, 'jobs'))) {
      const file = path.join(root, 'jobs', job, 'metrics.ts');
      if (!existsSync(file)) continue;
      const module = (await import(file)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(module)) {
        if (!isMetricsFactory(value)) continue;
        (value as (...args: unknown[]) => unknown)(registry, ...(argsOf[name] ?? []));
        factories++;
      }
    }
    expect(factories).toBeGreaterThanOrEqual(11);
    const names = new Set<string>();
    for (const [, name, type] of (await registry.metrics()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (!name) continue;
      names.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
    }
    return names;
  }

  it('queries only metrics the project exposes', async () => {
    const names = await exposedNames();
    expect(names).toContain('lowburn_alert_firing');
    expect(names).toContain('lowburn_cpau_usd');
    const used = new Map<string, string>();
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets ?? []) {
        const metrics = [...expr.matchAll(/\blowburn_[a-z0-9_]+\b/g)].map(([m]) => m);
        expect(metrics, `${panel.title}: ${expr}`).not.toEqual([]);
        for (const metric of metrics) used.set(metric, panel.title);
      }
    }
    const unknown = [...used].filter(([metric]) => !names.has(metric));
    expect(unknown).toEqual([]);
    // It shows what the issue asks for: queues, telemetry, cache layers, webhooks, costs, alerts.
    for (const metric of [
      'lowburn_queue_oldest_waiting_seconds',
      'lowburn_telemetry_buffer_depth',
      'lowburn_cache_hits_total',
      'lowburn_webhook_dead_letters_total',
      'lowburn_cost_usd',
      'lowburn_cpau_usd',
      'lowburn_answer_share',
      'lowburn_alert_firing',
    ]) {
      expect(used.has(metric), metric).toBe(true);
    }
  });

  it('is a well-formed dashboard: unique panel ids, every panel inside the 24-column grid', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
    }
  });
});
