// The day's table, section by section.

import { round } from '../support.ts';
import { pct } from './report.ts';
import type { DayCollected, DayFigures } from './summary.ts';
import { closeTheGap } from './target.ts';

type Section = [string, [string, string | number][]];
const json = (v: unknown) => JSON.stringify(v);
const rounded = (r: Record<string, number>) =>
  json(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v, 1)])));

function load(d: DayCollected): Section {
  const c = d.client;
  return [
    'load (open model, from the client process)',
    [
      [
        'generations sent / accepted',
        `${c.generations.lag.started} / ${c.generations.accepted.length}`,
      ],
      ['generation answers by status', json(c.generations.statuses)],
      ['ping batches by status', json(c.pings.statuses)],
      ['pings accepted', c.pings.accepted],
      [
        'dropped (in-flight cap): generations / ping batches',
        `${c.generations.dropped} / ${c.pings.dropped}`,
      ],
      [
        'late arrivals (> 1 s): generations / ping batches',
        `${c.generations.lag.late} / ${c.pings.lag.late}`,
      ],
      [
        'client lag p50 / p99 / max (ms)',
        `${round(c.generations.lag.p50Ms)} / ${round(c.generations.lag.p99Ms)} / ${round(c.generations.lag.maxMs)}`,
      ],
      [
        'API p50 / p99 (ms, sent → answered): generations',
        `${round(c.generations.p50Ms)} / ${round(c.generations.p99Ms)}`,
      ],
      [
        'API p50 / p99 (ms): telemetry batches',
        `${round(c.pings.p50Ms)} / ${round(c.pings.p99Ms)}`,
      ],
      ['load wall / drain after it (s)', `${round(d.loadWallS)} / ${round(d.drainedS)}`],
    ],
  ];
}

function verification(d: DayCollected): Section {
  const { generations: g, webhooks: w, pings: p, exports: e } = d.checks;
  return [
    'verification',
    [
      [
        'generations: accepted / lost / duplicated / failed',
        `${g.accepted} / ${g.lost} / ${g.duplicated} / ${g.failed}`,
      ],
      ['webhooks: expected / lost / duplicated', `${w.expected} / ${w.lost} / ${w.duplicated}`],
      [
        'webhooks: delivered / verified / invalid / dead / pending',
        `${w.delivered} / ${w.verified} / ${w.invalid} / ${w.deadLettered} / ${w.pending}`,
      ],
      [
        'pings: accepted / stored / lost / duplicated / stored unacknowledged',
        `${p.accepted} / ${p.stored} / ${p.lost} / ${p.duplicated} / ${p.unacknowledged}`,
      ],
      [
        'exports (table day state)',
        e.runs.map((r) => `${r.table} ${r.day} ${r.state}`).join(', ') || 'none',
      ],
      ['exports not dropped', e.unfinished],
      ['cold bytes per day', json(e.bytesPerDay)],
    ],
  ];
}

function fleet(d: DayCollected, f: DayFigures): Section {
  return [
    'fleet',
    [
      ['CPU-seconds (client, receiver, bench apart)', rounded(d.cpu)],
      [
        'Postgres CPU',
        "the run database's backends and autovacuum, sampled every second (the server-wide WAL writer and checkpointer apart)",
      ],
      ['fleet (API, workers, Redis, Postgres) share of 2 cores', pct(Number(f.line.cpu_share))],
      [
        'CPU-s per user-day / users per box at 50 %',
        `${f.line.cpu_s_per_user_day} / ${f.line.users_per_box}`,
      ],
      ['peak RSS (MB)', json(d.measured.peakRssMb)],
      ['Redis peak memory (MB)', round(f.redisPeakMb, 1)],
      ['Postgres hot size (MB)', json(f.sizes)],
      ['queue lag p99 (ms)', json(d.measured.queueLagP99Ms)],
      [
        'webhook enqueue → 2xx p50 / p99 (ms)',
        `${d.checks.webhooks.p50Ms} / ${d.checks.webhooks.p99Ms}`,
      ],
      ...Object.entries(d.scheduled).map(([queue, r]): [string, string] => [
        `scheduled ${queue}: completed / failed / unfinished in the day (+ outside it)`,
        `${r.completed} / ${r.failed} / ${r.unfinished} (+ ${r.outside})${r.completed + r.failed + r.unfinished <= 30 ? ` at ${r.at.join(' ')}` : ''}${r.failedReason ? `; failed: ${r.failedReason.slice(0, 160)}` : ''}`,
      ]),
    ],
  ];
}

function generations(d: DayCollected, f: DayFigures): Section {
  const { o } = f;
  const misses = Math.max(1, o.requests - o.hits);
  const all = Math.max(1, o.requests);
  return [
    'generations',
    [
      [
        'hit rate / oracle (cold start) / oracle (warm)',
        `${pct(o.hits / all)} / ${pct(d.oracle.rate)} / ${pct(d.oracleWarm.rate)}`,
      ],
      ['hits by layer', json(o.byLayer)],
      ['oracle hits by layer', json(d.oracle.byLayer)],
      [
        'local / fallback / frontier direct / failed',
        `${o.local} / ${o.fallback} / ${o.frontierDirect} / ${o.failed}`,
      ],
      ['local share: of all / of misses', `${pct(o.local / all)} / ${pct(o.local / misses)}`],
      [
        'fallback share: of all / of misses',
        `${pct(o.fallback / all)} / ${pct(o.fallback / misses)}`,
      ],
      ['tokens by route', json(o.tokensByRoute)],
    ],
  ];
}

function cost(f: DayFigures): Section {
  const c = f.cost;
  return [
    'cost (cost_daily from rollup-usage, default price sheet)',
    [
      [
        'model boxes: busiest hour / average hour',
        `${f.modelBoxes.busiest} / ${f.modelBoxes.average}`,
      ],
      ['rollup model boxes (the whole day ÷ 24 h)', c?.model_boxes ?? 'no row'],
      ['active users', c?.active_users ?? 'no row'],
      [
        'cost by component (USD a day)',
        c
          ? json({
              tokens: c.token_usd,
              fleet: c.fleet_usd,
              database: c.database_usd,
              model: c.model_usd,
              storage: c.storage_usd,
              requests: c.requests_usd,
            })
          : 'no row',
      ],
      ['total (USD a day) / CPAU', c ? `${c.total_usd} / ${c.cpau_usd}` : 'no row'],
      ...closeTheGap(c ? { ...c, active_users: Number(c.active_users) } : undefined, {
        usersPerBox: Number(f.line.users_per_box),
        modelBoxes: f.modelBoxes,
        oracleHitRate: Number(f.line.oracle_hit_rate),
        hitRate: Number(f.line.hit_rate),
        fallbackShareMisses: Number(f.line.fallback_share_misses),
      }),
    ],
  ];
}

export function daySections(d: DayCollected, f: DayFigures): Section[] {
  return [
    load(d),
    verification(d),
    fleet(d, f),
    generations(d, f),
    cost(f),
    [
      'the compressed clock',
      [
        [
          'on the clock (CLOCK_RATE = compression)',
          'the workers’ cron schedules: export, precompute, rollup, fine-tune (daily here), alerts, digest',
        ],
        [
          'rollup and export "today", timestamps',
          'the real UTC day: the previous day is loaded as yesterday, the run is today',
        ],
        ['TTLs, hot retention, rate limits', 'real settings scaled by the compression'],
      ],
    ],
  ];
}
